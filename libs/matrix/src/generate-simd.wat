;; Input-tile generation (libs/matrix generate.ts), four elements at a time with WebAssembly SIMD.
;; Element c of a row stream with key (k0, k1) is h = triple32(lowbias32(x) ^ k1) with
;; x = (col0 + c)·φ + k0 (mod 2^32), exactly as counter-hash.ts; every step is a 32-bit integer
;; operation, so the four lanes compute the same bits as the JavaScript loop. One call fills one
;; row of `t` float32 values (t a multiple of 4) at address 0 of the exported memory.
(module
  (memory (export "memory") 1)

  (func $hash (param $x v128) (param $k1 v128) (result v128)
    ;; lowbias32
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 16))))
    (local.set $x (i32x4.mul (local.get $x) (i32x4.splat (i32.const 0x7feb352d))))
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 15))))
    (local.set $x (i32x4.mul (local.get $x) (i32x4.splat (i32.const 0x846ca68b))))
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 16))))
    (local.set $x (v128.xor (local.get $x) (local.get $k1)))
    ;; triple32
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 17))))
    (local.set $x (i32x4.mul (local.get $x) (i32x4.splat (i32.const 0xed5ad4bb))))
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 11))))
    (local.set $x (i32x4.mul (local.get $x) (i32x4.splat (i32.const 0xac4c1b51))))
    (local.set $x (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 15))))
    (local.set $x (i32x4.mul (local.get $x) (i32x4.splat (i32.const 0x31848bab))))
    (v128.xor (local.get $x) (i32x4.shr_u (local.get $x) (i32.const 14))))

  ;; The stream words of elements col0 + c .. col0 + c + 3.
  (func $words (param $c i32) (param $col0 i32) (param $k0 i32) (param $k1 i32) (result v128)
    (call $hash
      (i32x4.add
        (i32x4.mul
          (i32x4.add (i32x4.splat (i32.add (local.get $col0) (local.get $c)))
                     (v128.const i32x4 0 1 2 3))
          (i32x4.splat (i32.const 0x9e3779b9)))
        (i32x4.splat (local.get $k0)))
      (i32x4.splat (local.get $k1))))

  ;; Exact mode: floor(h · scale) − m, h read as unsigned (h · scale is exact in float64).
  (func (export "rowExact") (param $t i32) (param $col0 i32) (param $k0 i32) (param $k1 i32)
        (param $scale f64) (param $m f64)
    (local $c i32) (local $h v128) (local $lo v128) (local $hi v128)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $c) (local.get $t)))
        (local.set $h (call $words (local.get $c) (local.get $col0) (local.get $k0) (local.get $k1)))
        (local.set $lo
          (f32x4.demote_f64x2_zero
            (f64x2.sub
              (f64x2.floor (f64x2.mul (f64x2.convert_low_i32x4_u (local.get $h))
                                      (f64x2.splat (local.get $scale))))
              (f64x2.splat (local.get $m)))))
        (local.set $hi
          (f32x4.demote_f64x2_zero
            (f64x2.sub
              (f64x2.floor
                (f64x2.mul
                  (f64x2.convert_low_i32x4_u
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                      (local.get $h) (local.get $h)))
                  (f64x2.splat (local.get $scale))))
              (f64x2.splat (local.get $m)))))
        (v128.store (i32.shl (local.get $c) (i32.const 2))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $next))))

  ;; Float mode: (h >>> 8) · 2^−23 − 1, every step exact in float32.
  (func (export "rowFloat") (param $t i32) (param $col0 i32) (param $k0 i32) (param $k1 i32)
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $c) (local.get $t)))
        (v128.store (i32.shl (local.get $c) (i32.const 2))
          (f32x4.sub
            (f32x4.mul
              (f32x4.convert_i32x4_u
                (i32x4.shr_u (call $words (local.get $c) (local.get $col0) (local.get $k0) (local.get $k1))
                             (i32.const 8)))
              (f32x4.splat (f32.const 0x1p-23)))
            (f32x4.splat (f32.const 1))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $next))))
)
