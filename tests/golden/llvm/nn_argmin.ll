; ModuleID = "nn"
target triple = ""
target datalayout = ""

define void @"tc_nn_0_nn"(ptr noalias %"buf.x", ptr noalias %"buf.y", ptr noalias %"buf.idx", i64 %"size.N", i64 %"size.M", i64 %"size.D", i64 %"part_start", i64 %"part_stop", i64 %"parts") nounwind
{
entry:
  %".24" = alloca i64
  %"loc.best" = alloca float
  %"loc.bi" = alloca i64
  %".32" = alloca i64
  %"loc.t" = alloca float
  %".39" = alloca i64
  br label %"body"
body:
  %".11" = sub i64 %"size.N", 0
  %".12" = add i64 %".11", 0
  %".13" = sdiv i64 %".12", 1
  %".14" = icmp slt i64 %".13", 0
  %".15" = select  i1 %".14", i64 0, i64 %".13"
  %".16" = mul i64 %".15", %"part_start"
  %".17" = sdiv i64 %".16", %"parts"
  %".18" = mul i64 %".15", %"part_stop"
  %".19" = sdiv i64 %".18", %"parts"
  %".20" = mul i64 %".17", 1
  %".21" = add i64 0, %".20"
  %".22" = mul i64 %".19", 1
  %".23" = add i64 0, %".22"
  store i64 %".21", i64* %".24"
  br label %"loop.head"
loop.head:
  %".27" = load i64, i64* %".24"
  %".28" = icmp slt i64 %".27", %".23"
  br i1 %".28", label %"loop.body", label %"loop.exit"
loop.body:
  store float 0x7ff0000000000000, float* %"loc.best"
  store i64 18446744073709551615, i64* %"loc.bi"
  store i64 0, i64* %".32"
  br label %"loop.head.1"
loop.exit:
  ret void
loop.head.1:
  %".35" = load i64, i64* %".32"
  %".36" = icmp slt i64 %".35", %"size.M"
  br i1 %".36", label %"loop.body.1", label %"loop.exit.1"
loop.body.1:
  store float              0x0, float* %"loc.t"
  store i64 0, i64* %".39"
  br label %"loop.head.2"
loop.exit.1:
  %".81" = getelementptr inbounds i64, ptr %"buf.idx", i64 %".27"
  %".82" = load i64, i64* %"loc.bi"
  store i64 %".82", ptr %".81", align 8
  %".84" = add nsw i64 %".27", 1
  store i64 %".84", i64* %".24"
  br label %"loop.head"
loop.head.2:
  %".42" = load i64, i64* %".39"
  %".43" = icmp slt i64 %".42", %"size.D"
  br i1 %".43", label %"loop.body.2", label %"loop.exit.2"
loop.body.2:
  %".45" = load float, float* %"loc.t"
  %".46" = mul nsw i64 %".27", %"size.D"
  %".47" = add nsw i64 %".46", %".42"
  %".48" = getelementptr inbounds float, ptr %"buf.x", i64 %".47"
  %".49" = load float, ptr %".48", align 4
  %".50" = mul nsw i64 %".35", %"size.D"
  %".51" = add nsw i64 %".50", %".42"
  %".52" = getelementptr inbounds float, ptr %"buf.y", i64 %".51"
  %".53" = load float, ptr %".52", align 4
  %".54" = fsub reassoc contract arcp float %".49", %".53"
  %".55" = mul nsw i64 %".27", %"size.D"
  %".56" = add nsw i64 %".55", %".42"
  %".57" = getelementptr inbounds float, ptr %"buf.x", i64 %".56"
  %".58" = load float, ptr %".57", align 4
  %".59" = mul nsw i64 %".35", %"size.D"
  %".60" = add nsw i64 %".59", %".42"
  %".61" = getelementptr inbounds float, ptr %"buf.y", i64 %".60"
  %".62" = load float, ptr %".61", align 4
  %".63" = fsub reassoc contract arcp float %".58", %".62"
  %".64" = fmul reassoc contract arcp float %".54", %".63"
  %".65" = fadd reassoc contract arcp float %".45", %".64"
  store float %".65", float* %"loc.t"
  %".67" = add nsw i64 %".42", 1
  store i64 %".67", i64* %".39"
  br label %"loop.head.2"
loop.exit.2:
  %".70" = load float, float* %"loc.t"
  %".71" = load float, float* %"loc.best"
  %".72" = fcmp olt float %".70", %".71"
  br i1 %".72", label %"if.then", label %"if.end"
if.then:
  %".74" = load float, float* %"loc.t"
  store float %".74", float* %"loc.best"
  store i64 %".35", i64* %"loc.bi"
  br label %"if.end"
if.end:
  %".78" = add nsw i64 %".35", 1
  store i64 %".78", i64* %".32"
  br label %"loop.head.1"
}

declare i32 @"sched_yield"()

declare void @"llvm.x86.sse2.pause"()

define void @"tc_nn_run"(ptr %"args", ptr %"state", i64 %"threads") nounwind
{
entry:
  %"spins" = alloca i64
  %".5" = mul i64 %"threads", 4
  %".6" = getelementptr inbounds i64, ptr %"state", i64 0
  %".7" = getelementptr inbounds i64, ptr %"state", i64 8
  br label %"k0.claim"
k0.claim:
  %".9" = atomicrmw add ptr %".6", i64 1 monotonic
  %".10" = icmp slt i64 %".9", %".5"
  br i1 %".10", label %"k0.run", label %"k0.wait"
k0.run:
  %".12" = getelementptr inbounds i64, ptr %"args", i64 0
  %".13" = load ptr, ptr %".12"
  %".14" = getelementptr inbounds i64, ptr %"args", i64 1
  %".15" = load ptr, ptr %".14"
  %".16" = getelementptr inbounds i64, ptr %"args", i64 2
  %".17" = load ptr, ptr %".16"
  %".18" = getelementptr inbounds i64, ptr %"args", i64 3
  %".19" = load i64, ptr %".18"
  %".20" = getelementptr inbounds i64, ptr %"args", i64 4
  %".21" = load i64, ptr %".20"
  %".22" = getelementptr inbounds i64, ptr %"args", i64 5
  %".23" = load i64, ptr %".22"
  %".24" = add i64 %".9", 1
  call void @"tc_nn_0_nn"(ptr %".13", ptr %".15", ptr %".17", i64 %".19", i64 %".21", i64 %".23", i64 %".9", i64 %".24", i64 %".5")
  %".26" = atomicrmw add ptr %".7", i64 1 release
  br label %"k0.claim"
k0.wait:
  store i64 0, i64* %"spins"
  br label %"k0.spin"
k0.spin:
  %".30" = load atomic i64, ptr %".7" acquire, align 8
  %".31" = icmp sge i64 %".30", %".5"
  %".32" = xor i1 %".31", -1
  br i1 %".32", label %"k0.spin.if", label %"k0.spin.endif"
k0.ready:
  ret void
k0.spin.if:
  %".34" = load i64, i64* %"spins"
  %".35" = add i64 %".34", 1
  store i64 %".35", i64* %"spins"
  %".37" = icmp slt i64 %".34", 4000
  br i1 %".37", label %"k0.spin.if.if", label %"k0.spin.if.else"
k0.spin.endif:
  br i1 %".31", label %"k0.ready", label %"k0.spin"
k0.spin.if.if:
  call void @"llvm.x86.sse2.pause"()
  br label %"k0.spin.if.endif"
k0.spin.if.else:
  %".41" = call i32 @"sched_yield"()
  br label %"k0.spin.if.endif"
k0.spin.if.endif:
  br label %"k0.spin.endif"
}

