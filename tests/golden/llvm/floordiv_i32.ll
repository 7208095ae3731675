; ModuleID = "floordiv_i32"
target triple = ""
target datalayout = ""

define void @"tc_floordiv_i32_0_floordiv_i32"(ptr noalias %"buf.a", ptr noalias %"buf.b", ptr noalias %"buf.q", i64 %"size.N", i64 %"part_start", i64 %"part_stop", i64 %"parts") nounwind
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
  %".28" = getelementptr inbounds i32, ptr %"buf.q", i64 %".25"
  %".29" = getelementptr inbounds i32, ptr %"buf.a", i64 %".25"
  %".30" = load i32, ptr %".29", align 4
  %".31" = getelementptr inbounds i32, ptr %"buf.b", i64 %".25"
  %".32" = load i32, ptr %".31", align 4
  %".33" = icmp eq i32 %".32", 0
  %".34" = icmp eq i32 %".32", -1
  %".35" = or i1 %".33", %".34"
  %".36" = select  i1 %".35", i32 1, i32 %".32"
  %".37" = sdiv i32 %".30", %".36"
  %".38" = srem i32 %".30", %".36"
  %".39" = icmp ne i32 %".38", 0
  %".40" = xor i32 %".38", %".36"
  %".41" = icmp slt i32 %".40", 0
  %".42" = and i1 %".39", %".41"
  %".43" = zext i1 %".42" to i32
  %".44" = sub i32 %".37", %".43"
  %".45" = icmp eq i32 %".32", -1
  %".46" = sub i32 0, %".30"
  %".47" = select  i1 %".45", i32 %".46", i32 %".44"
  %".48" = icmp eq i32 %".32", 0
  %".49" = select  i1 %".48", i32 0, i32 %".47"
  store i32 %".49", ptr %".28", align 4
  %".51" = add nsw i64 %".25", 1
  store i64 %".51", i64* %".22"
  br label %"loop.head"
loop.exit:
  ret void
}

declare i32 @"sched_yield"()

declare void @"llvm.x86.sse2.pause"()

define void @"tc_floordiv_i32_run"(ptr %"args", ptr %"state", i64 %"threads") nounwind
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
  call void @"tc_floordiv_i32_0_floordiv_i32"(ptr %".13", ptr %".15", ptr %".17", i64 %".19", i64 %".9", i64 %".20", i64 %".5")
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

