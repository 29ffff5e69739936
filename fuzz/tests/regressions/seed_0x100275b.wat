(module
  (type (;0;) (func (param f64) (result v128)))
  (table (;0;) 0 59 externref)
  (global (;0;) (mut i32) i32.const 0)
  (global (;1;) (mut i32) i32.const 0)
  (global (;2;) (mut i64) i64.const 0)
  (global (;3;) (mut v128) v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000)
  (global (;4;) (mut i64) i64.const 0)
  (global (;5;) (mut i32) i32.const 2000)
  (export "3" (func 0))
  (export "\u{c}" (global 2))
  (func (;0;) (type 0) (param f64) (result v128)
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
    v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000
    local.get 2
    local.get 2
    f32x4.eq
    v128.bitselect
    i16x8.extract_lane_s 1
    local.get 0
    i32.trunc_sat_f64_s
    i32.sub
    f32.reinterpret_i32
    f32.const 0x1.d21bbcp-43 
    i64.const 8740260080508087155
    v128.const i32x4 0x7c0d41d7 0x5a5818e7 0x1131598d 0x285c7cc8
    i16x8.extract_lane_s 3
    f64.convert_i32_s
    i64.trunc_f64_u
    block ;; label = @1
      f32.const 0x1.f8p-144 
      ref.null extern
      block (result v128) ;; label = @2
        local.get 0
        f64.const -0x1.93c64b6ede25bp-612 
        block (type 0) (param f64) (result v128) ;; label = @3
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
            loop ;; label = @5
              global.get 5
              if ;; label = @6
              end
              global.get 5
              i32.const 1
              i32.sub
              global.set 5
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
              block ;; label = @6
                loop (result i64) ;; label = @7
                  global.get 5
                  if ;; label = @8
                  end
                  global.get 5
                  global.set 5
                  f32.const 0x1.p-128 
                  v128.const i32x4 0x26841cea 0x6138f611 0x6e53c377 0xd099c1e3
                  i16x8.bitmask
                  i64.extend_i32_u
                  v128.const i32x4 0x78290602 0x5b56fabd 0xb840f60d 0xf56f059f
                  f32x4.extract_lane 2
                  i32.trunc_f32_u
                  loop (result externref) ;; label = @8
                    global.get 5
                    if ;; label = @9
                    end
                    v128.const i32x4 0x4a2cebc6 0xd67c68a0 0xbe27bfc6 0x30e02183
                    v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000
                    local.get 5
                    local.get 5
                    f32x4.eq
                    v128.bitselect
                    loop ;; label = @9
                      global.get 5
                      if ;; label = @10
                      end
                      global.get 5
                      i32.const 1
                      i32.sub
                      global.set 5
                      loop (result i32) ;; label = @10
                        global.get 5
                        if ;; label = @11
                        end
                        global.get 5
                        i32.const 1
                        i32.sub
                        global.set 5
                        ref.null extern
                        block ;; label = @11
                          ref.null extern
                          i64.const 5656557717823749157
                          f32.convert_i64_u
                          f32.const nan 
                          local.get 6
                          local.get 6
                          f32.eq
                          select
                          block ;; label = @12
                            block ;; label = @13
                              table.size 0
                              f32.convert_i32_u
                              ref.null extern
                              loop ;; label = @14
                                loop ;; label = @15
                                  global.get 5
                                  if ;; label = @16
                                  end
                                  global.get 5
                                  i32.const 1
                                  i32.sub
                                  global.set 5
                                  i32.const -2048
                                  i16x8.splat
                                  ref.null extern
                                  block ;; label = @16
                                    block ;; label = @17
                                      loop (result i32) ;; label = @18
                                        global.get 5
                                        if ;; label = @19
                                        end
                                        global.get 5
                                      end
                                      global.set 1
                                    end
                                  end
                                  drop
                                  global.get 3
                                  v128.xor
                                  global.set 3
                                end
                              end
                              drop
                              i32.reinterpret_f32
                              global.set 0
                            end
                          end
                          i32.reinterpret_f32
                          global.set 0
                          drop
                        end
                        drop
                        i32.const 978453199
                      end
                      global.set 1
                    end
                    global.set 3
                    ref.null extern
                  end
                  drop
                  global.set 1
                  global.get 4
                  i64.xor
                  global.set 4
                  i32.reinterpret_f32
                  global.get 0
                  i32.xor
                  global.set 0
                  i64.const -7381144626339440150
                end
                global.set 4
              end
              i64.reinterpret_f64
              global.get 2
              i64.xor
              global.set 2
              i64.xor
              global.set 4
              i64.reinterpret_f64
              global.get 2
              i64.xor
              global.set 2
              i32.reinterpret_f32
              global.get 0
              i32.xor
              global.set 0
            end
            i32.reinterpret_f32
            i32.xor
            global.set 1
            i64.reinterpret_f64
            global.get 2
            i64.xor
            global.set 2
            v128.const i32x4 0x40f3dc63 0x49e00255 0x46d415d2 0xf7eaaa7a
          else
            i64.reinterpret_f64
            global.get 2
            i64.xor
            global.set 2
            v128.const i32x4 0xb73f70c5 0x05646a61 0xbe02a5b6 0xc5a74bb5
          end
        end
        global.get 3
        v128.xor
        global.set 3
        i64.reinterpret_f64
        global.get 2
        i64.xor
        global.set 2
        v128.const i32x4 0x8d9c691d 0x49119c58 0x6fdadfa2 0x6b4b5abb
      end
      global.set 3
      drop
      i32.reinterpret_f32
      global.get 0
      i32.xor
      global.set 0
    end
    global.get 4
    i64.xor
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
