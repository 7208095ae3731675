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
  %".88" = add nsw i64 %".29", 0
  %".89" = getelementptr inbounds float, ptr %"buf.out", i64 %".88"
  %".90" = load float, float* %"loc.acc"
  store float %".90", ptr %".89", align 4
  %".92" = add nsw i64 %".29", 1
  store i64 %".92", i64* %".26"
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
  %".78" = call float @"tc.exp.f32"(float %".77")
  %".79" = add nsw i64 %".36", 0
  %".80" = getelementptr inbounds float, ptr %"buf.b", i64 %".79"
  %".81" = load float, ptr %".80", align 4
  %".82" = fmul reassoc contract arcp float %".78", %".81"
  %".83" = fadd reassoc contract arcp float %".71", %".82"
  store float %".83", float* %"loc.acc"
  %".85" = add nsw i64 %".36", 1
  store i64 %".85", i64* %".33"
  br label %"loop.head.1"
}

define internal float @"tc.exp.f32"(float %".1") alwaysinline nounwind
{
entry:
  %".3" = fcmp ogt float %".1", 0x4056400000000000
  %".4" = select  i1 %".3", float 0x4056400000000000, float %".1"
  %".5" = fcmp olt float %".4", 0xc05a000000000000
  %".6" = select  i1 %".5", float 0xc05a000000000000, float %".4"
  %".7" = fmul float %".6", 0x3ff7154760000000
  %".8" = call float @"llvm.rint.f32"(float %".7")
  %".9" = call float @"llvm.fma.f32"(float %".8", float 0xbfe6300000000000, float %".6")
  %".10" = call float @"llvm.fma.f32"(float %".8", float 0x3f2bd01060000000, float %".9")
  %".11" = call float @"llvm.fma.f32"(float 0x3f2a0d2ce0000000, float %".10", float 0x3f56e879c0000000)
  %".12" = call float @"llvm.fma.f32"(float %".11", float %".10", float 0x3f81112100000000)
  %".13" = call float @"llvm.fma.f32"(float %".12", float %".10", float 0x3fa5553820000000)
  %".14" = call float @"llvm.fma.f32"(float %".13", float %".10", float 0x3fc5555540000000)
  %".15" = call float @"llvm.fma.f32"(float %".14", float %".10", float 0x3fe0000000000000)
  %".16" = fmul float %".15", %".10"
  %".17" = fadd float %".10", 0x3ff0000000000000
  %".18" = call float @"llvm.fma.f32"(float %".16", float %".10", float %".17")
  %".19" = fptosi float %".8" to i32
  %".20" = ashr i32 %".19", 1
  %".21" = sub i32 %".19", %".20"
  %".22" = add i32 %".20", 127
  %".23" = shl i32 %".22", 23
  %".24" = bitcast i32 %".23" to float
  %".25" = fmul float %".18", %".24"
  %".26" = add i32 %".21", 127
  %".27" = shl i32 %".26", 23
  %".28" = bitcast i32 %".27" to float
  %".29" = fmul float %".25", %".28"
  %".30" = fcmp uno float %".1", %".1"
  %".31" = select  i1 %".30", float %".1", float %".29"
  ret float %".31"
}

declare float @"llvm.rint.f32"(float %".1")

declare float @"llvm.fma.f32"(float %".1", float %".2", float %".3")
