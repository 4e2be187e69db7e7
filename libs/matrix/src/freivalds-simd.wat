;; Freivalds' arithmetic (freivalds-rows.ts, freivalds-tiles.ts) with WebAssembly SIMD: a block
;; of tile rows against two interleaved float64 vectors (the row-block check's default two
;; rounds), a block of A's rows times the tile check's Y (float mode's |A| columns included), and
;; the exact-mode range check of output elements. dots2 sums integers below 2^53 (exact in any
;; order); product keeps the JavaScript loop's order per column (lanes run across columns), so
;; both give the loops' results bit for bit. The caller lays out the exported memory.
(module
  (memory (export "memory") 1)

  ;; For rows p in [0, rows) of the row-major float32 block at $x (row length $t):
  ;;   out[2p] = Σ_q x[p,q]·v[2q],  out[2p+1] = Σ_q x[p,q]·v[2q+1]   (float64 at $v and $out)
  (func (export "dots2") (param $x i32) (param $t i32) (param $rows i32) (param $v i32) (param $out i32)
    (local $p i32) (local $q i32) (local $row i32) (local $vq i32)
    (local $xs v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $rowsDone
      (loop $nextRow
        (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $rows)))
        (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p) (local.get $t)) (i32.const 2))))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $q (i32.const 0))
        (local.set $vq (local.get $v))
        (block $colsDone
          (loop $nextCols
            (br_if $colsDone (i32.ge_u (local.get $q) (local.get $t)))
            (local.set $xs (v128.load (i32.add (local.get $row) (i32.shl (local.get $q) (i32.const 2)))))
            (local.set $lo (f64x2.promote_low_f32x4 (local.get $xs)))
            (local.set $hi (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $xs) (local.get $xs))))
            ;; element q+e times (v[2(q+e)], v[2(q+e)+1]), four independent sums
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul
              (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $lo) (local.get $lo))
              (v128.load (local.get $vq)))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul
              (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $lo) (local.get $lo))
              (v128.load offset=16 (local.get $vq)))))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul
              (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $hi) (local.get $hi))
              (v128.load offset=32 (local.get $vq)))))
            (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul
              (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $hi) (local.get $hi))
              (v128.load offset=48 (local.get $vq)))))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (local.set $vq (i32.add (local.get $vq) (i32.const 64)))
            (br $nextCols)))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 4)))
          (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $nextRow))))

  ;; The first group of four float32 values in [$x, $x + 4·$count) holding one that is not an
  ;; integer within ±$bound (NaN and ±∞ included), as an element index; −1 when there is none.
  (func (export "firstOutOfRange") (param $x i32) (param $count i32) (param $bound f32) (result i32)
    (local $e i32) (local $xs v128)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $e) (local.get $count)))
        (local.set $xs (v128.load (i32.add (local.get $x) (i32.shl (local.get $e) (i32.const 2)))))
        (if (i32.eqz (i32x4.all_true
              (v128.and
                (f32x4.eq (f32x4.trunc (local.get $xs)) (local.get $xs))
                (f32x4.le (f32x4.abs (local.get $xs)) (f32x4.splat (local.get $bound))))))
          (then (return (local.get $e))))
        (local.set $e (i32.add (local.get $e) (i32.const 4)))
        (br $next)))
    (i32.const -1))
;; For rows p in [0, rows) of the float32 block at $a (row length $t) and the $t × $w float64
  ;; matrix at $y ($w a multiple of 8, row-major): out[p·w + c] = Σ_l a'[p,l]·y[l·w + c], l in
  ;; order, where a' = a, or |a| in odd columns when $abs (float mode's (sum, |·|) column pairs).
  (func (export "product") (param $a i32) (param $t i32) (param $rows i32) (param $y i32) (param $w i32)
        (param $out i32) (param $abs i32)
    (local $p i32) (local $c i32) (local $l i32) (local $row i32) (local $yc i32) (local $stride i32)
    (local $mask v128) (local $x v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $mask (select (result v128)
      (v128.const i64x2 -1 0x7fffffffffffffff)
      (v128.const i64x2 -1 -1)
      (local.get $abs)))
    (local.set $stride (i32.shl (local.get $w) (i32.const 3)))
    (block $rowsDone
      (loop $nextRow
        (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $rows)))
        (local.set $row (i32.add (local.get $a) (i32.shl (i32.mul (local.get $p) (local.get $t)) (i32.const 2))))
        (local.set $c (i32.const 0))
        (block $colsDone
          (loop $nextCols
            (br_if $colsDone (i32.ge_u (local.get $c) (local.get $w)))
            (local.set $a0 (v128.const i64x2 0 0))
            (local.set $a1 (v128.const i64x2 0 0))
            (local.set $a2 (v128.const i64x2 0 0))
            (local.set $a3 (v128.const i64x2 0 0))
            (local.set $yc (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 3))))
            (local.set $l (i32.const 0))
            (block $lDone
              (loop $nextL
                (br_if $lDone (i32.ge_u (local.get $l) (local.get $t)))
                (local.set $x (v128.and (local.get $mask)
                  (f64x2.splat (f64.promote_f32
                    (f32.load (i32.add (local.get $row) (i32.shl (local.get $l) (i32.const 2))))))))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $x) (v128.load (local.get $yc)))))
                (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $x) (v128.load offset=16 (local.get $yc)))))
                (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $x) (v128.load offset=32 (local.get $yc)))))
                (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $x) (v128.load offset=48 (local.get $yc)))))
                (local.set $yc (i32.add (local.get $yc) (local.get $stride)))
                (local.set $l (i32.add (local.get $l) (i32.const 1)))
                (br $nextL)))
            (local.set $yc (i32.add (local.get $out)
              (i32.shl (i32.add (i32.mul (local.get $p) (local.get $w)) (local.get $c)) (i32.const 3))))
            (v128.store (local.get $yc) (local.get $a0))
            (v128.store offset=16 (local.get $yc) (local.get $a1))
            (v128.store offset=32 (local.get $yc) (local.get $a2))
            (v128.store offset=48 (local.get $yc) (local.get $a3))
            (local.set $c (i32.add (local.get $c) (i32.const 8)))
            (br $nextCols)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $nextRow))))

  ;; For rows p in [0, rows) of the float32 block at $x (row length $t) and two interleaved float64
  ;; vectors at $v (v[2q], v[2q+1]): out[4p..4p+3] = (Σ x·v0, Σ |x·v0|, Σ x·v1, Σ |x·v1|), each
  ;; summed over q in order (one accumulator per lane), as the tile check's per-round loops do.
  (func (export "sums2") (param $x i32) (param $t i32) (param $rows i32) (param $v i32) (param $out i32)
    (local $p i32) (local $q i32) (local $row i32) (local $vq i32)
    (local $prod v128) (local $sum v128) (local $abs v128)
    (block $rowsDone
      (loop $nextRow
        (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $rows)))
        (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p) (local.get $t)) (i32.const 2))))
        (local.set $sum (v128.const i64x2 0 0))
        (local.set $abs (v128.const i64x2 0 0))
        (local.set $q (i32.const 0))
        (local.set $vq (local.get $v))
        (block $colsDone
          (loop $nextCol
            (br_if $colsDone (i32.ge_u (local.get $q) (local.get $t)))
            (local.set $prod (f64x2.mul
              (f64x2.splat (f64.promote_f32
                (f32.load (i32.add (local.get $row) (i32.shl (local.get $q) (i32.const 2))))))
              (v128.load (local.get $vq))))
            (local.set $sum (f64x2.add (local.get $sum) (local.get $prod)))
            (local.set $abs (f64x2.add (local.get $abs) (f64x2.abs (local.get $prod))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (local.set $vq (i32.add (local.get $vq) (i32.const 16)))
            (br $nextCol)))
        (local.set $vq (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 5))))
        (v128.store (local.get $vq)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $sum) (local.get $abs)))
        (v128.store offset=16 (local.get $vq)
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $sum) (local.get $abs)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $nextRow))))
)
