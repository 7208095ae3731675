; ModuleID = "gauss_ksum"
target triple = ""
target datalayout = ""

define void @"tc_gauss_ksum_0_gauss_ksum"(ptr noalias %"buf.x", ptr noalias %"buf.y", ptr noalias %"buf.b", ptr noalias %"buf.sigma", ptr noalias %"buf.out", i64 %"size.N", i64 %"size.M", i64 %"size.D", i64 %"part_start", i64 %"part_stop", i64 %"parts") nounwind
{
entry:
  %".26" = alloca i64
  %"loc.acc" = alloca float
  %".33" = alloca i64
  %"loc.t" = alloca float
  %".40" = alloca i64
  %".74" = load float, ptr %"buf.sigma", align 4
  br label %"body"
body:
  %".13" = sub i64 %"size.N", 0
  %".14" = add i64 %".13", 0
  %".15" = sdiv i64 %".14", 1
  %".16" = icmp slt i64 %".15", 0
  %".17" = select  i1 %".16", i64 0, i64 %".15"
  %".18" = mul i64 %".17", %"part_start"
  %".19" = sdiv i64 %".18", %"parts"
  %".20" = mul i64 %".17", %"part_stop"
  %".21" = sdiv i64 %".20", %"parts"
  %".22" = mul i64 %".19", 1
  %".23" = add i64 0, %".22"
  %".24" = mul i64 %".21", 1
  %".25" = add i64 0, %".24"
  store i64 %".23", i64* %".26"
  br label %"loop.head"
loop.head:
  %".29" = load i64, i64* %".26"
  %".30" = icmp slt i64 %".29", %".25"
  br i1 %".30", label %"loop.body", label %"loop.exit"
loop.body:
  store float              0x0, float* %"loc.acc"
  store i64 0, i64* %".33"
  br label %"loop.head.1"
loop.exit:
  ret void
loop.head.1:
  %".36" = load i64, i64* %".33"
  %".37" = icmp slt i64 %".36", %"size.M"
  br i1 %".37", label %"loop.body.1", label %"loop.exit.1"
loop.body.1:
  store float              0x0, float* %"loc.t"
  store i64 0, i64* %".40"
  br label %"loop.head.2"
loop.exit.1:
  %".101" = add nsw i64 %".29", 0
  %".102" = getelementptr inbounds float, ptr %"buf.out", i64 %".101"
  %".103" = load float, float* %"loc.acc"
  store float %".103", ptr %".102", align 4
  %".105" = add nsw i64 %".29", 1
  store i64 %".105", i64* %".26"
  br label %"loop.head"
loop.head.2:
  %".43" = load i64, i64* %".40"
  %".44" = icmp slt i64 %".43", 3
  br i1 %".44", label %"loop.body.2", label %"loop.exit.2"
loop.body.2:
  %".46" = load float, float* %"loc.t"
  %".47" = mul nsw i64 %".29", 3
  %".48" = add nsw i64 %".47", %".43"
  %".49" = getelementptr inbounds float, ptr %"buf.x", i64 %".48"
  %".50" = load float, ptr %".49", align 4
  %".51" = mul nsw i64 %".36", 3
  %".52" = add nsw i64 %".51", %".43"
  %".53" = getelementptr inbounds float, ptr %"buf.y", i64 %".52"
  %".54" = load float, ptr %".53", align 4
  %".55" = fsub reassoc contract arcp float %".50", %".54"
  %".56" = mul nsw i64 %".29", 3
  %".57" = add nsw i64 %".56", %".43"
  %".58" = getelementptr inbounds float, ptr %"buf.x", i64 %".57"
  %".59" = load float, ptr %".58", align 4
  %".60" = mul nsw i64 %".36", 3
  %".61" = add nsw i64 %".60", %".43"
  %".62" = getelementptr inbounds float, ptr %"buf.y", i64 %".61"
  %".63" = load float, ptr %".62", align 4
  %".64" = fsub reassoc contract arcp float %".59", %".63"
  %".65" = fmul reassoc contract arcp float %".55", %".64"
  %".66" = fadd reassoc contract arcp float %".46", %".65"
  store float %".66", float* %"loc.t"
  %".68" = add nsw i64 %".43", 1
  store i64 %".68", i64* %".40"
  br label %"loop.head.2"
loop.exit.2:
  %".71" = load float, float* %"loc.acc"
  %".72" = load float, float* %"loc.t"
  %".73" = fneg reassoc contract arcp float %".72"
  %".75" = fmul reassoc contract arcp float 0x4000000000000000, %".74"
  %".76" = fmul reassoc contract arcp float %".75", %".74"
  %".77" = fdiv reassoc contract float %".73", %".76"
  %".78" = fpext float %".76" to double
  %".79" = fdiv double 0xbff71547652b82fe, %".78"
  %".80" = call double @"llvm.fabs.f64"(double %".79")
  %".81" = fcmp ogt double %".80", 0x4630000000000000
  %".82" = fcmp olt double %".80", 0x39b0000000000000
  %".83" = select  i1 %".82", double 0x43f0000000000000, double 0x3ff0000000000000
  %".84" = select  i1 %".81", double 0x3bf0000000000000, double %".83"
  %".85" = select  i1 %".82", float 0x3bf0000000000000, float 0x3ff0000000000000
  %".86" = select  i1 %".81", float 0x43f0000000000000, float %".85"
  %".87" = fmul double %".79", %".84"
  %".88" = fptrunc double %".87" to float
  %".89" = fmul float %".72", %".88"
  %".90" = fmul float %".89", %".86"
  %".91" = call float @"tc.exp2_nonpos.f32"(float %".90")
  %".92" = add nsw i64 %".36", 0
  %".93" = getelementptr inbounds float, ptr %"buf.b", i64 %".92"
  %".94" = load float, ptr %".93", align 4
  %".95" = fmul reassoc contract arcp float %".91", %".94"
  %".96" = fadd reassoc contract arcp float %".71", %".95"
  store float %".96", float* %"loc.acc"
  %".98" = add nsw i64 %".36", 1
  store i64 %".98", i64* %".33"
  br label %"loop.head.1"
}

define internal float @"tc.exp2_nonpos.f32"(float %".1") alwaysinline nounwind
{
entry:
  %".3" = fcmp olt float %".1", 0xc063000000000000
  %".4" = select  i1 %".3", float 0xc063000000000000, float %".1"
  %".5" = call float @"llvm.rint.f32"(float %".4")
  %".6" = fsub float %".4", %".5"
  %".7" = call float @"llvm.fma.f32"(float 0x3b65bba140000000, float %".6", float 0x3b93cea880000000)
  %".8" = call float @"llvm.fma.f32"(float %".7", float %".6", float 0x3bbc6b7520000000)
  %".9" = call float @"llvm.fma.f32"(float %".8", float %".6", float 0x3bdebf9bc0000000)
  %".10" = call float @"llvm.fma.f32"(float %".9", float %".6", float 0x3bf62e42a0000000)
  %".11" = call float @"llvm.fma.f32"(float %".10", float %".6", float 0x3c00000000000000)
  %".12" = fadd float %".4", 0x41680017c0000000
  %".13" = bitcast float %".12" to i32
  %".14" = shl i32 %".13", 23
  %".15" = bitcast i32 %".14" to float
  %".16" = fmul float %".11", %".15"
  ret float %".16"
}

declare float @"llvm.rint.f32"(float %".1")

declare float @"llvm.fma.f32"(float %".1", float %".2", float %".3")

declare double @"llvm.fabs.f64"(double %".1")

declare i32 @"sched_yield"()

declare void @"llvm.x86.sse2.pause"()

define void @"tc_gauss_ksum_run"(ptr %"args", ptr %"state", i64 %"threads") nounwind
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
  %".19" = load ptr, ptr %".18"
  %".20" = getelementptr inbounds i64, ptr %"args", i64 4
  %".21" = load ptr, ptr %".20"
  %".22" = getelementptr inbounds i64, ptr %"args", i64 5
  %".23" = load i64, ptr %".22"
  %".24" = getelementptr inbounds i64, ptr %"args", i64 6
  %".25" = load i64, ptr %".24"
  %".26" = getelementptr inbounds i64, ptr %"args", i64 7
  %".27" = load i64, ptr %".26"
  %".28" = add i64 %".9", 1
  call void @"tc_gauss_ksum_0_gauss_ksum"(ptr %".13", ptr %".15", ptr %".17", ptr %".19", ptr %".21", i64 %".23", i64 %".25", i64 %".27", i64 %".9", i64 %".28", i64 %".5")
  %".30" = atomicrmw add ptr %".7", i64 1 release
  br label %"k0.claim"
k0.wait:
  store i64 0, i64* %"spins"
  br label %"k0.spin"
k0.spin:
  %".34" = load atomic i64, ptr %".7" acquire, align 8
  %".35" = icmp sge i64 %".34", %".5"
  %".36" = xor i1 %".35", -1
  br i1 %".36", label %"k0.spin.if", label %"k0.spin.endif"
k0.ready:
  ret void
k0.spin.if:
  %".38" = load i64, i64* %"spins"
  %".39" = add i64 %".38", 1
  store i64 %".39", i64* %"spins"
  %".41" = icmp slt i64 %".38", 4000
  br i1 %".41", label %"k0.spin.if.if", label %"k0.spin.if.else"
k0.spin.endif:
  br i1 %".35", label %"k0.ready", label %"k0.spin"
k0.spin.if.if:
  call void @"llvm.x86.sse2.pause"()
  br label %"k0.spin.if.endif"
k0.spin.if.else:
  %".45" = call i32 @"sched_yield"()
  br label %"k0.spin.if.endif"
k0.spin.if.endif:
  br label %"k0.spin.endif"
}

