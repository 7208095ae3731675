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
  %".90" = add nsw i64 %".29", 0
  %".91" = getelementptr inbounds float, ptr %"buf.out", i64 %".90"
  %".92" = load float, float* %"loc.acc"
  store float %".92", ptr %".91", align 4
  %".94" = add nsw i64 %".29", 1
  store i64 %".94", i64* %".26"
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
  %".77" = fdiv reassoc contract arcp float %".73", %".76"
  %".78" = fdiv float 0xbff7154760000000, %".76"
  %".79" = fmul float %".72", %".78"
  %".80" = call float @"tc.exp2.f32"(float %".79")
  %".81" = add nsw i64 %".36", 0
  %".82" = getelementptr inbounds float, ptr %"buf.b", i64 %".81"
  %".83" = load float, ptr %".82", align 4
  %".84" = fmul reassoc contract arcp float %".80", %".83"
  %".85" = fadd reassoc contract arcp float %".71", %".84"
  store float %".85", float* %"loc.acc"
  %".87" = add nsw i64 %".36", 1
  store i64 %".87", i64* %".33"
  br label %"loop.head.1"
}

define internal float @"tc.exp2.f32"(float %".1") alwaysinline nounwind
{
entry:
  %".3" = fcmp ogt float %".1", 0x4060200000000000
  %".4" = select  i1 %".3", float 0x4060200000000000, float %".1"
  %".5" = fcmp olt float %".4", 0xc063000000000000
  %".6" = select  i1 %".5", float 0xc063000000000000, float %".4"
  %".7" = call float @"llvm.rint.f32"(float %".6")
  %".8" = fsub float %".6", %".7"
  %".9" = call float @"llvm.fma.f32"(float 0x3fe62e42a0000000, float %".8", float 0x3ff0000000000000)
  %".10" = call float @"llvm.fma.f32"(float 0x3fac6b7520000000, float %".8", float 0x3fcebf9bc0000000)
  %".11" = call float @"llvm.fma.f32"(float 0x3f55bba140000000, float %".8", float 0x3f83cea880000000)
  %".12" = fmul float %".8", %".8"
  %".13" = call float @"llvm.fma.f32"(float %".11", float %".12", float %".10")
  %".14" = call float @"llvm.fma.f32"(float %".13", float %".12", float %".9")
  %".15" = fadd float %".6", 0x4168001fc0000000
  %".16" = bitcast float %".15" to i32
  %".17" = shl i32 %".16", 22
  %".18" = and i32 %".17", -8388608
  %".19" = shl i32 %".16", 23
  %".20" = sub i32 %".19", %".18"
  %".21" = bitcast i32 %".18" to float
  %".22" = fmul float %".14", %".21"
  %".23" = bitcast i32 %".20" to float
  %".24" = fmul float %".22", %".23"
  ret float %".24"
}

declare float @"llvm.rint.f32"(float %".1")

declare float @"llvm.fma.f32"(float %".1", float %".2", float %".3")
