(module
  (type  (func (param f64) (result v128)))
  (table  0 59 externref)
  (global  (mut i32) i32.const 0)
  (global  (mut i32) i32.const 0)
  (global  (mut i64) i64.const 0)
  (global  (mut v128) v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000)
  (global  (mut i64) i64.const 0)
  (global  (mut i32) i32.const 2000)
  (export "3" (func 0))
  (export "\u{c}" (global 2))
  (func  (type 0) (param f64) (result v128)
    (local f32 v128 f32 f64 v128 f32 f64 f64)
    f64.const 0x1.aa2bf17dbf328p-535
    i64.const -4194305
    f32.convert_i64_s
    f32.const nan
    local.get 1
    local.get 1
    f32.eq
    select
    f64.const -nan:0xfffff7fffffff
    i64.const 7368759661248818660
    i64x2.splat
    i16x8.extract_lane_s 1
    f32.reinterpret_i32
    f32.const 0x1.d21bbcp-43
    i64.const 8740260080508087155
    v128.const i32x4 0x7c0d41d7 0x5a5818e7 0x1131598d 0x285c7cc8
    i16x8.extract_lane_s 3
    f64.convert_i32_s
    i64.trunc_f64_u
      f32.const 0x1.f8p-144
      ref.null extern
        local.get 0
        f64.const -0x1.93c64b6ede25bp-612
          f32.const 0x1.p-128
          i32.trunc_sat_f32_s
          table.size 0
          i32.xor
          if (type 0) (param f64) (result v128) ;; label = @4
            table.size 0
            f32.const 0x1.p-137
            f32.const nan
            local.get 3
            local.get 3
            f32.eq
            select
              global.get 5
              if ;; label = @6
              end
              f32.const 0x1.e8e082p+71
              local.get 0
              i64.const -5450562749371447627
              i64.const 1152921504606846976
              local.get 0
              f64.const nan
              local.get 4
              local.get 4
              f64.eq
              select
              i64.reinterpret_f64
              global.set 2
              i64.xor
              global.set 4
              i64.reinterpret_f64
              global.set 2
              i32.reinterpret_f32
              global.set 0
            i32.reinterpret_f32
            i32.xor
            global.set 1
            i64.reinterpret_f64
            global.set 2
            v128.const i32x4 0x40f3dc63 0x49e00255 0x46d415d2 0xf7eaaa7a
          else
            i64.reinterpret_f64
            global.set 2
            v128.const i32x4 0xb73f70c5 0x05646a61 0xbe02a5b6 0xc5a74bb5
          end
        global.set 3
        i64.reinterpret_f64
        global.set 2
      drop
      i32.reinterpret_f32
      global.set 0
    global.set 4
    drop
    i32.reinterpret_f32
    global.set 0
    i32.reinterpret_f32
    global.set 0
    i64.reinterpret_f64
    global.get 2
    i64.xor
    global.set 2
    i32.reinterpret_f32
    global.set 0
    i64.reinterpret_f64
    global.get 2
    i64.xor
    global.set 2
    v128.const i32x4 0x0007ffff 0x00000000 0x00004000 0x00000000
  )
)
