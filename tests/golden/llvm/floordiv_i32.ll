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
