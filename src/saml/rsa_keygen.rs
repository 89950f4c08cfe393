//! RSA-2048 key generation with the two primes searched at once, one per thread.
//!
//! Why: OpenSSL 3 generates two-prime keys of 2048 bits and more by SP 800-56B (auxiliary
//! primes, extra rounds), measured on a 2-core machine at 50–340 ms a key, several-fold from
//! run to run, and a first start waits for its first key. Searching p and q at the same time
//! with OpenSSL's own prime generator (`BN_generate_prime_ex2`: random odd candidates with the
//! top two bits set, drawn from the private DRBG, sieved, then 64 Miller–Rabin rounds) — how
//! OpenSSL itself generates keys of other sizes — measured 16–63 ms.
//!
//! The key is assembled as FIPS 186-4 B.3.1 asks of the result: e = 65537 coprime to p − 1
//! and q − 1, |p − q| > 2^(1024−100), d = e⁻¹ mod lcm(p − 1, q − 1) with d > 2^1024; and
//! OpenSSL's `RSA_check_key` checks it (both primes, n = pq, d·e ≡ 1, the CRT values) before
//! it is used. The inverses here are not constant-time: they run once per key, in this
//! process, where no one outside can time them.

use anyhow::{anyhow, bail};
use openssl::bn::{BigNum, BigNumContext};
use openssl::error::ErrorStack;
use openssl::pkey::Private;
use openssl::rsa::Rsa;

const PRIME_BITS: i32 = 1024;
const MODULUS_BITS: i32 = 2 * PRIME_BITS;
const PUBLIC_EXPONENT: u32 = 65537;

/// A new RSA-2048 key with e = 65537.
pub fn generate_2048() -> anyhow::Result<Rsa<Private>> {
    loop {
        let (p, q) = std::thread::scope(|scope| {
            let other = scope.spawn(prime);
            let p = prime();
            let q = other
                .join()
                .map_err(|_| anyhow!("the prime search thread stopped"))?;
            Ok::<_, anyhow::Error>((p?, q?))
        })?;
        // A pair that misses a bound (probability about 2^-100) is drawn again.
        if let Some(key) = assemble(p, q)? {
            return Ok(key);
        }
    }
}

/// A 1024-bit probable prime p with gcd(p − 1, e) = 1 (e is prime: e must not divide p − 1).
fn prime() -> Result<BigNum, ErrorStack> {
    let e = BigNum::from_u32(PUBLIC_EXPONENT)?;
    let mut ctx = BigNumContext::new()?;
    loop {
        let mut p = BigNum::new()?;
        p.generate_prime(PRIME_BITS, false, None, None)?;
        let mut rem = BigNum::new()?;
        rem.nnmod(&*minus_one(&p)?, &e, &mut ctx)?;
        if rem.num_bits() != 0 {
            return Ok(p);
        }
    }
}

fn minus_one(n: &BigNum) -> Result<BigNum, ErrorStack> {
    let mut out = BigNum::new()?;
    out.checked_sub(n, &*BigNum::from_u32(1)?)?;
    Ok(out)
}

/// The key of primes p and q, or `None` when the pair misses one of FIPS 186-4's bounds.
fn assemble(p: BigNum, q: BigNum) -> anyhow::Result<Option<Rsa<Private>>> {
    let mut ctx = BigNumContext::new()?;
    let e = BigNum::from_u32(PUBLIC_EXPONENT)?;
    let mut diff = BigNum::new()?;
    diff.checked_sub(&p, &q)?;
    diff.set_negative(false);
    if diff.num_bits() <= PRIME_BITS - 100 {
        return Ok(None);
    }
    let mut n = BigNum::new()?;
    n.checked_mul(&p, &q, &mut ctx)?;
    if n.num_bits() != MODULUS_BITS {
        return Ok(None);
    }
    let (p1, q1) = (minus_one(&p)?, minus_one(&q)?);
    let mut gcd = BigNum::new()?;
    gcd.gcd(&p1, &q1, &mut ctx)?;
    let mut phi = BigNum::new()?;
    phi.checked_mul(&p1, &q1, &mut ctx)?;
    let mut lcm = BigNum::new()?;
    lcm.checked_div(&phi, &gcd, &mut ctx)?;
    let mut d = BigNum::new()?;
    d.mod_inverse(&e, &lcm, &mut ctx)?;
    if d.num_bits() <= PRIME_BITS {
        return Ok(None);
    }
    let mut dmp1 = BigNum::new()?;
    dmp1.nnmod(&d, &p1, &mut ctx)?;
    let mut dmq1 = BigNum::new()?;
    dmq1.nnmod(&d, &q1, &mut ctx)?;
    let mut iqmp = BigNum::new()?;
    iqmp.mod_inverse(&q, &p, &mut ctx)?;
    let key = Rsa::from_private_components(n, e, d, p, q, dmp1, dmq1, iqmp)?;
    if !key.check_key()? {
        bail!("a generated RSA key failed OpenSSL's consistency check");
    }
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::{Signer, Verifier};

    use super::*;

    #[test]
    fn keys_are_2048_bit_consistent_distinct_and_sign() {
        let a = generate_2048().expect("generates");
        let b = generate_2048().expect("generates");
        for key in [&a, &b] {
            assert_eq!(key.n().num_bits(), 2048);
            assert_eq!(key.e(), &*BigNum::from_u32(65537).expect("e"));
            assert!(key.check_key().expect("checks"));
            let p = key.p().expect("p");
            let q = key.q().expect("q");
            assert_eq!(p.num_bits(), 1024);
            assert_eq!(q.num_bits(), 1024);
            let mut diff = BigNum::new().expect("bn");
            diff.checked_sub(p, q).expect("sub");
            diff.set_negative(false);
            assert!(diff.num_bits() > 924, "|p - q| > 2^924");
            assert!(key.d().num_bits() > 1024, "d > 2^1024");
        }
        assert_ne!(a.n(), b.n(), "two keys share no modulus");

        let pkey = PKey::from_rsa(a).expect("pkey");
        let mut signer = Signer::new(MessageDigest::sha256(), &pkey).expect("signer");
        let signature = signer.sign_oneshot_to_vec(b"SignedInfo").expect("signs");
        let mut verifier = Verifier::new(MessageDigest::sha256(), &pkey).expect("verifier");
        assert!(verifier
            .verify_oneshot(&signature, b"SignedInfo")
            .expect("verifies"));
        let mut verifier = Verifier::new(MessageDigest::sha256(), &pkey).expect("verifier");
        assert!(!verifier
            .verify_oneshot(&signature, b"SignedInfO")
            .expect("verifies"));
    }

    #[test]
    fn a_pair_too_close_together_is_drawn_again() {
        let p = prime().expect("prime");
        let two = BigNum::from_u32(2).expect("2");
        let mut ctx = BigNumContext::new().expect("ctx");
        // The next prime after p differs from it by far less than 2^924.
        let mut q = BigNum::new().expect("bn");
        q.checked_add(&p, &two).expect("add");
        while !q.is_prime(64, &mut ctx).expect("primality test runs") {
            let mut next = BigNum::new().expect("bn");
            next.checked_add(&q, &two).expect("add");
            q = next;
        }
        assert!(assemble(p, q).expect("runs").is_none());
    }
}
