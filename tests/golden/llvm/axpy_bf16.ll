; ModuleID = "axpy_bf16"
target triple = ""
target datalayout = ""

define void @"tc_axpy_bf16_0_axpy_bf16"(ptr noalias %"buf.x", ptr noalias %"buf.y", ptr noalias %"buf.out", i64 %"size.N", i64 %"part_start", i64 %"part_stop", i64 %"parts") nounwind
{
entry:
  %".22" = alloca i64
  br label %"body"
body:
  %".9" = sub i64 %"size.N", 0
  %".10" = add i64 %".9", 0
  %".11" = sdiv i64 %".10", 1
  %".12" = icmp slt i64 %".11", 0
  %".13" = select  i1 %".12", i64 0, i64 %".11"
  %".14" = mul i64 %".13", %"part_start"
  %".15" = sdiv i64 %".14", %"parts"
  %".16" = mul i64 %".13", %"part_stop"
  %".17" = sdiv i64 %".16", %"parts"
  %".18" = mul i64 %".15", 1
  %".19" = add i64 0, %".18"
  %".20" = mul i64 %".17", 1
  %".21" = add i64 0, %".20"
  store i64 %".19", i64* %".22"
  br label %"loop.head"
loop.head:
  %".25" = load i64, i64* %".22"
  %".26" = icmp slt i64 %".25", %".21"
  br i1 %".26", label %"loop.body", label %"loop.exit"
loop.body:
  %".28" = getelementptr inbounds i16, ptr %"buf.out", i64 %".25"
  %".29" = getelementptr inbounds i16, ptr %"buf.x", i64 %".25"
  %".30" = load i16, ptr %".29", align 2
  %".31" = zext i16 %".30" to i32
  %".32" = shl i32 %".31", 16
  %".33" = bitcast i32 %".32" to float
  %".34" = fmul reassoc contract arcp float %".33", 0x4000000000000000
  %".35" = getelementptr inbounds half, ptr %"buf.y", i64 %".25"
  %".36" = load half, ptr %".35", align 2
  %".37" = fpext half %".36" to float
  %".38" = fadd reassoc contract arcp float %".34", %".37"
  %".39" = bitcast float %".38" to i32
  %".40" = lshr i32 %".39", 16
  %".41" = and i32 %".40", 1
  %".42" = add i32 %".41", 32767
  %".43" = add i32 %".39", %".42"
  %".44" = lshr i32 %".43", 16
  %".45" = lshr i32 %".39", 16
  %".46" = or i32 %".45", 64
  %".47" = fcmp uno float %".38", %".38"
  %".48" = select  i1 %".47", i32 %".46", i32 %".44"
  %".49" = trunc i32 %".48" to i16
  %".50" = zext i16 %".49" to i32
  %".51" = shl i32 %".50", 16
  %".52" = bitcast i32 %".51" to float
  %".53" = bitcast float %".52" to i32
  %".54" = lshr i32 %".53", 16
  %".55" = and i32 %".54", 1
  %".56" = add i32 %".55", 32767
  %".57" = add i32 %".53", %".56"
  %".58" = lshr i32 %".57", 16
  %".59" = lshr i32 %".53", 16
  %".60" = or i32 %".59", 64
  %".61" = fcmp uno float %".52", %".52"
  %".62" = select  i1 %".61", i32 %".60", i32 %".58"
  %".63" = trunc i32 %".62" to i16
  store i16 %".63", ptr %".28", align 2
  %".65" = add nsw i64 %".25", 1
  store i64 %".65", i64* %".22"
  br label %"loop.head"
loop.exit:
  ret void
}

declare i32 @"sched_yield"()

declare void @"llvm.x86.sse2.pause"()

define void @"tc_axpy_bf16_run"(ptr %"args", ptr %"state", i64 %"threads") nounwind
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
  %".20" = add i64 %".9", 1
  call void @"tc_axpy_bf16_0_axpy_bf16"(ptr %".13", ptr %".15", ptr %".17", i64 %".19", i64 %".9", i64 %".20", i64 %".5")
  %".22" = atomicrmw add ptr %".7", i64 1 release
  br label %"k0.claim"
k0.wait:
  store i64 0, i64* %"spins"
  br label %"k0.spin"
k0.spin:
  %".26" = load atomic i64, ptr %".7" acquire, align 8
  %".27" = icmp sge i64 %".26", %".5"
  %".28" = xor i1 %".27", -1
  br i1 %".28", label %"k0.spin.if", label %"k0.spin.endif"
k0.ready:
  ret void
k0.spin.if:
  %".30" = load i64, i64* %"spins"
  %".31" = add i64 %".30", 1
  store i64 %".31", i64* %"spins"
  %".33" = icmp slt i64 %".30", 4000
  br i1 %".33", label %"k0.spin.if.if", label %"k0.spin.if.else"
k0.spin.endif:
  br i1 %".27", label %"k0.ready", label %"k0.spin"
k0.spin.if.if:
  call void @"llvm.x86.sse2.pause"()
  br label %"k0.spin.if.endif"
k0.spin.if.else:
  %".37" = call i32 @"sched_yield"()
  br label %"k0.spin.if.endif"
k0.spin.if.endif:
  br label %"k0.spin.endif"
}

