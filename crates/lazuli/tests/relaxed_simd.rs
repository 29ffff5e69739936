//! Relaxed SIMD and extended constant expressions (Wasm 3.0): on by default, each
//! can be turned off, and relaxed SIMD gives the spec's deterministic results when
//! asked to and x86-64's native ones otherwise, at every tier and compilation mode.

use lazuli::{Compilation, Config, Engine, Instance, Module, Store, Tiering};

/// Every tier, each with both compilation modes.
const ENGINES: [(Tiering, Compilation); 4] = [
    (Tiering::Optimized, Compilation::Lazy),
    (Tiering::Optimized, Compilation::Eager),
    (Tiering::Fast, Compilation::Lazy),
    (Tiering::Fast, Compilation::Eager),
];

/// Each export applies one relaxed operator to operands chosen where the
/// deterministic and the x86-64 results differ, and returns one lane.
const PROBES: &str = r#"(module
  ;; Index 17 is out of range: 0 deterministically, lane 17 % 16 = 1 with pshufb.
  (func (export "swizzle") (result i32)
    (i8x16.extract_lane_u 0
      (i8x16.relaxed_swizzle
        (v128.const i8x16 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25)
        (i8x16.splat (i32.const 17)))))
  ;; NaN: 0 when saturating, i32::MIN with cvttps2dq.
  (func (export "trunc_nan") (result i32)
    (i32x4.extract_lane 0 (i32x4.relaxed_trunc_f32x4_s (f32x4.splat (f32.const nan)))))
  ;; 3e9 saturates to i32::MAX, cvttps2dq gives i32::MIN.
  (func (export "trunc_big") (result i32)
    (i32x4.extract_lane 0 (i32x4.relaxed_trunc_f32x4_s (f32x4.splat (f32.const 3e9)))))
  (func (export "trunc_f64_nan") (result i32)
    (i32x4.extract_lane 0
      (i32x4.relaxed_trunc_f64x2_s_zero (f64x2.splat (f64.const nan)))))
  ;; The unsigned truncation saturates everywhere: -1.5 is 0.
  (func (export "trunc_u") (result i32)
    (i32x4.extract_lane 0 (i32x4.relaxed_trunc_f32x4_u (f32x4.splat (f32.const -1.5)))))
  ;; (1 + 2^-23)^2 - (1 + 2^-22) is 2^-46 fused and 0 rounded.
  (func (export "madd") (result f32)
    (f32x4.extract_lane 0
      (f32x4.relaxed_madd
        (f32x4.splat (f32.const 0x1.000002p0))
        (f32x4.splat (f32.const 0x1.000002p0))
        (f32x4.splat (f32.const -0x1.000004p0)))))
  (func (export "nmadd") (result f64)
    (f64x2.extract_lane 0
      (f64x2.relaxed_nmadd
        (f64x2.splat (f64.const 2)) (f64x2.splat (f64.const 3))
        (f64x2.splat (f64.const 10)))))
  ;; Mask 0x7f: bit-wise it takes the low 7 bits of 0xff and the top one of 0x00;
  ;; blendv looks at the top bit only and takes all of 0x00.
  (func (export "laneselect") (result i32)
    (i8x16.extract_lane_u 0
      (i8x16.relaxed_laneselect
        (i8x16.splat (i32.const 0xff)) (i8x16.splat (i32.const 0))
        (i8x16.splat (i32.const 0x7f)))))
  (func (export "laneselect64") (result i64)
    (i64x2.extract_lane 0
      (i64x2.relaxed_laneselect
        (i64x2.splat (i64.const -1)) (i64x2.splat (i64.const 0))
        (i64x2.splat (i64.const 0x7fffffffffffffff)))))
  ;; min(1, NaN): NaN as Wasm's min, 1 as minps (the first operand here).
  (func (export "min_nan") (result i32)
    (i32x4.extract_lane 0
      (f32x4.relaxed_min (f32x4.splat (f32.const 1)) (f32x4.splat (f32.const nan)))))
  (func (export "max") (result f64)
    (f64x2.extract_lane 0
      (f64x2.relaxed_max (f64x2.splat (f64.const -2)) (f64x2.splat (f64.const 7)))))
  ;; i16::MIN squared: saturates to 0x7fff, pmulhrsw wraps to 0x8000.
  (func (export "q15mulr") (result i32)
    (i16x8.extract_lane_s 0
      (i16x8.relaxed_q15mulr_s (i16x8.splat (i32.const -32768))
                               (i16x8.splat (i32.const -32768)))))
  ;; -128 * 0x80 + 1 * 1: 16385 with 0x80 signed, -16383 with it unsigned.
  (func (export "dot") (result i32)
    (i16x8.extract_lane_s 0
      (i16x8.relaxed_dot_i8x16_i7x16_s
        (v128.const i8x16 -128 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0)
        (v128.const i8x16 0x80 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0))))
  ;; Lanes 0..3 of both: 1*1 + 2*2 + 3*3 + 4*4 = 30, plus 100.
  (func (export "dot_add") (result i32)
    (i32x4.extract_lane 0
      (i32x4.relaxed_dot_i8x16_i7x16_add_s
        (v128.const i8x16 1 2 3 4 0 0 0 0 0 0 0 0 0 0 0 0)
        (v128.const i8x16 1 2 3 4 0 0 0 0 0 0 0 0 0 0 0 0)
        (i32x4.splat (i32.const 100))))))
"#;

/// The i32 results of `PROBES`, by export, from `config`'s engine at each of
/// `ENGINES`; every engine must agree.
fn probe(config: impl Fn(&mut Config)) -> Probes {
    let mut seen: Option<Probes> = None;
    for (tiering, compilation) in ENGINES {
        let mut c = Config::new();
        c.tiering(tiering).compilation(compilation);
        config(&mut c);
        let engine = Engine::new(&c).unwrap();
        let module = Module::new(&engine, PROBES).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let mut i32_of = |name: &str| {
            let f = instance.get_typed_func::<(), i32>(&mut store, name);
            f.unwrap().call(&mut store, ()).unwrap()
        };
        let mut probes = Probes {
            swizzle: i32_of("swizzle"),
            trunc_nan: i32_of("trunc_nan"),
            trunc_big: i32_of("trunc_big"),
            trunc_f64_nan: i32_of("trunc_f64_nan"),
            trunc_u: i32_of("trunc_u"),
            laneselect: i32_of("laneselect"),
            min_nan: i32_of("min_nan"),
            q15mulr: i32_of("q15mulr"),
            dot: i32_of("dot"),
            dot_add: i32_of("dot_add"),
            ..Probes::default()
        };
        let f32_of = instance.get_typed_func::<(), f32>(&mut store, "madd");
        probes.madd = f32_of.unwrap().call(&mut store, ()).unwrap();
        let f64_of = |store: &mut Store<()>, name| {
            let f = instance.get_typed_func::<(), f64>(&mut *store, name);
            f.unwrap().call(store, ()).unwrap()
        };
        probes.nmadd = f64_of(&mut store, "nmadd");
        probes.max = f64_of(&mut store, "max");
        let f = instance.get_typed_func::<(), i64>(&mut store, "laneselect64");
        probes.laneselect64 = f.unwrap().call(&mut store, ()).unwrap();
        if let Some(seen) = &seen {
            assert_eq!(seen, &probes, "{tiering:?} {compilation:?}");
        }
        seen = Some(probes);
    }
    seen.unwrap()
}

#[derive(Debug, Default, PartialEq)]
struct Probes {
    swizzle: i32,
    trunc_nan: i32,
    trunc_big: i32,
    trunc_f64_nan: i32,
    trunc_u: i32,
    madd: f32,
    nmadd: f64,
    laneselect: i32,
    laneselect64: i64,
    min_nan: i32,
    max: f64,
    q15mulr: i32,
    dot: i32,
    dot_add: i32,
}

const F32_NAN_BITS: u32 = 0x7fc0_0000;

#[test]
fn deterministic_relaxed_simd_gives_the_spec_deterministic_profile_at_every_tier() {
    let p = probe(|c| {
        c.relaxed_simd_deterministic(true);
    });
    assert_eq!(p.swizzle, 0);
    assert_eq!(
        (p.trunc_nan, p.trunc_big, p.trunc_f64_nan),
        (0, i32::MAX, 0)
    );
    assert_eq!(p.trunc_u, 0);
    assert_eq!(p.madd, 2f32.powi(-46), "fused");
    assert_eq!(p.nmadd, 4.0);
    assert_eq!(p.laneselect, 0x7f);
    assert_eq!(p.laneselect64, i64::MAX);
    assert_eq!(p.min_nan as u32 & 0x7fc0_0000, F32_NAN_BITS, "NaN");
    assert_eq!(p.max, 7.0);
    assert_eq!(p.q15mulr, 0x7fff);
    assert_eq!(p.dot, 16385);
    assert_eq!(p.dot_add, 130);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn by_default_relaxed_simd_on_x86_64_gives_what_one_native_instruction_gives() {
    let p = probe(|_| {});
    assert_eq!(p.swizzle, 11, "pshufb uses the index's low four bits");
    assert_eq!(
        (p.trunc_nan, p.trunc_big),
        (i32::MIN, i32::MIN),
        "cvttps2dq"
    );
    assert_eq!(p.trunc_f64_nan, i32::MIN, "cvttpd2dq");
    assert_eq!(p.trunc_u, 0, "no native unsigned truncation");
    assert_eq!(p.nmadd, 4.0);
    assert_eq!(p.laneselect, 0, "blendv looks at the top bit");
    assert_eq!(p.laneselect64, 0, "blendvpd looks at the top bit");
    assert_eq!(f32::from_bits(p.min_nan as u32), 1.0, "minps");
    assert_eq!(p.max, 7.0);
    assert_eq!(p.q15mulr, -32768, "pmulhrsw");
    assert_eq!(p.dot, -16383, "pmaddubsw reads the second operand unsigned");
    assert_eq!(p.dot_add, 130);
}

#[test]
fn relaxed_simd_and_extended_constants_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_relaxed_simd(false);
    let engine = Engine::new(&config).unwrap();
    let err = Module::new(&engine, PROBES).unwrap_err();
    assert!(format!("{err:#}").contains("relaxed SIMD"), "{err:#}");

    let mut config = Config::new();
    config.wasm_extended_const(false);
    let engine = Engine::new(&config).unwrap();
    assert!(Module::new(&engine, EXTENDED).is_err());
}

/// Globals and segment offsets computed from an imported global.
const EXTENDED: &str = r#"(module
  (import "env" "base" (global $base i32))
  (global $scaled i64 (i64.mul (i64.const 3) (i64.sub (i64.const 10) (i64.const 4))))
  (global (export "end") i32 (i32.add (global.get $base) (i32.const 4)))
  (memory 1)
  (data (i32.add (global.get $base) (i32.const 2)) "\2a")
  (func (export "scaled") (result i64) (global.get $scaled))
  (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0))))
"#;

#[test]
fn extended_constant_expressions_compute_globals_and_offsets() {
    let engine = Engine::default();
    let module = Module::new(&engine, EXTENDED).unwrap();
    let mut store = Store::new(&engine, ());
    let base = lazuli::Global::new(
        &mut store,
        lazuli::GlobalType::new(lazuli::ValType::I32, lazuli::Mutability::Const),
        lazuli::Val::I32(100),
    )
    .unwrap();
    let instance = Instance::new(&mut store, &module, &[base.into()]).unwrap();
    let end = instance.get_global(&mut store, "end").unwrap();
    assert_eq!(end.get(&mut store).i32(), Some(104));
    let scaled = instance.get_typed_func::<(), i64>(&mut store, "scaled");
    assert_eq!(scaled.unwrap().call(&mut store, ()).unwrap(), 18);
    let byte = instance
        .get_typed_func::<i32, i32>(&mut store, "byte")
        .unwrap();
    assert_eq!(byte.call(&mut store, 102).unwrap(), 42);
    assert_eq!(byte.call(&mut store, 101).unwrap(), 0);
}

#[test]
fn a_precompiled_module_keeps_the_relaxed_simd_results_it_was_compiled_for() {
    let mut deterministic = Config::new();
    deterministic.relaxed_simd_deterministic(true);
    let deterministic = Engine::new(&deterministic).unwrap();
    let artifact = deterministic.precompile_module(PROBES.as_bytes()).unwrap();
    // SAFETY: the bytes come from `precompile_module` just above.
    let err = unsafe { Module::deserialize(&Engine::default(), &artifact) }.unwrap_err();
    assert!(format!("{err:#}").contains("other settings"), "{err:#}");
    // SAFETY: as above.
    assert!(unsafe { Module::deserialize(&deterministic, &artifact) }.is_ok());
}
