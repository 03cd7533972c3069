//! Element-wise maths that vectorises: the kernels' loops call these on
//! every element, so they are branch-free and inlined, where libm's `expf`
//! is one scalar call per element. [`avx2_dispatch`] compiles such a loop a
//! second time for AVX2 + FMA and picks that copy when the CPU has them (the
//! binary itself targets baseline x86-64, where the loops run 4 lanes wide).

/// `fn name(args) -> ret = portable;` defines `name`, which runs
/// `portable(args)` compiled with AVX2 + FMA when the CPU supports both and
/// as it is otherwise. `portable` should be `#[inline(always)]` so that it is
/// compiled into the AVX2 copy.
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $portable:ident;) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $portable($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has just been found to support both features.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;

/// `exp(x)` for `x ≤ 0`, within 2 ulp of libm's and branch-free, so the
/// loops that call it vectorise (libm's `expf` is a scalar call per element).
/// Below −87 (where f32 turns subnormal) it returns `exp(−87)` ≈ 1.6e-38.
///
/// The method is the usual one: `x = n·ln2 + r` with `|r| ≤ ln2 / 2`,
/// `exp(r)` from its degree-7 Taylor polynomial (error < 5e-9 relative),
/// and `2ⁿ` written straight into the exponent bits.
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact for the n that occur here.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 · 2²³ rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // The low mantissa bits of `shifted` hold n (as two's complement offset
    // by 2²²); n + 127 is the biased exponent of 2ⁿ.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let two_n = f32::from_bits(((n_bits + 127) as u32) << 23);
    p * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_nonpositive_is_within_two_ulp_of_libm() {
        let mut x = 0f32;
        while x > -87.0 {
            let (ours, libm) = (exp_nonpositive(x), x.exp());
            let ulp = (libm.to_bits() as i64 - ours.to_bits() as i64).abs();
            assert!(ulp <= 2, "exp({x}) = {ours}, libm {libm} ({ulp} ulp)");
            x -= 0.013_7;
        }
        assert!(exp_nonpositive(-1e30) > 0.0 && exp_nonpositive(-1e30) < 2e-38);
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }
}
