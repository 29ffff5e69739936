;; A loop of N indirect calls through a two-entry table (alternating entries):
;; what a call_indirect, with its null and signature checks, costs.
;;
;;   lazuli run --tier optimized --invoke run examples/call_indirect.wat 200000000
(module
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $inc $dec)
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
  (func $dec (type $t) (i32.sub (local.get 0) (i32.const 1)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc
        (call_indirect (type $t) (local.get $acc) (i32.and (local.get $i) (i32.const 1))))
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc)))
