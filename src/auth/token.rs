//! Token material: the one place random secrets are made, the format of API tokens, and the hash
//! tokens are stored and looked up by.
//!
//! An API token reads `hgr_pat_<random>_<checksum>`:
//! - the prefix names its kind, so secret scanners can recognise a leaked one: `hgr_pat_`
//!   (personal access token), `hgr_sa_` (service account), `hgr_at_` (short-lived OAuth access
//!   token, minted by the embedded provider), `hgr_scim_` (a provisioning client's token, good
//!   only at `/scim/v2`);
//! - `<random>` is 30 characters of base62 (`0-9A-Za-z`), drawn uniformly from a
//!   cryptographically secure generator: about 178 bits;
//! - `<checksum>` is the CRC-32 (ISO-HDLC, as in zlib and PNG) of everything before the last
//!   `_`, written as exactly 6 base62 digits, most significant first, padded with `0`.
//!
//! A string that starts with `hgr_` but breaks this shape (wrong length, a character outside
//! base62, a checksum that does not match) is refused before any lookup: a typo or a flood of
//! made-up tokens costs no database work. Tokens are stored only as SHA-256 hashes, with a short
//! display prefix (`hgr_pat_AbCd`) to recognise them in a listing.
//!
//! The bootstrap `HANGAR_ADMIN_TOKEN` is any string the operator chose; it keeps working and is
//! recognised by its hash alone (see `auth::Authenticator`).

use crate::config::Secret;
use crate::domain::TokenKind;
use rand::RngCore;
use sha2::Digest;

/// Letters of base62, in the order of their values.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the random part.
const RANDOM_LEN: usize = 30;
/// Length of the checksum (62^6 > 2^32, so every CRC-32 fits).
const CHECKSUM_LEN: usize = 6;
/// Random characters shown in the display prefix.
const SHOWN: usize = 4;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The kinds of token that have Hangar's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `hgr_pat_`: a person's token.
    Personal,
    /// `hgr_sa_`: a service account's token.
    Service,
    /// `hgr_at_`: a short-lived OAuth access token.
    Access,
    /// `hgr_scim_`: a SCIM provisioning client's token (accepted at `/scim/v2` only).
    Scim,
}

impl Format {
    const ALL: [Format; 4] = [
        Format::Personal,
        Format::Service,
        Format::Access,
        Format::Scim,
    ];

    /// The token's leading characters.
    pub fn prefix(self) -> &'static str {
        match self {
            Format::Personal => "hgr_pat_",
            Format::Service => "hgr_sa_",
            Format::Access => "hgr_at_",
            Format::Scim => "hgr_scim_",
        }
    }

    /// The kind a token of this format is stored as.
    pub fn kind(self) -> TokenKind {
        match self {
            Format::Personal => TokenKind::Personal,
            Format::Service => TokenKind::Service,
            Format::Access => TokenKind::Access,
            Format::Scim => TokenKind::Scim,
        }
    }

    /// The format of tokens of `kind`; `None` for the bootstrap token, which has none.
    pub fn of(kind: TokenKind) -> Option<Format> {
        match kind {
            TokenKind::Personal => Some(Format::Personal),
            TokenKind::Service => Some(Format::Service),
            TokenKind::Access => Some(Format::Access),
            TokenKind::Scim => Some(Format::Scim),
            TokenKind::Bootstrap => None,
        }
    }
}

/// A freshly minted API token: the secret (shown to its owner once), and what is stored.
/// `Debug` never shows the secret.
#[derive(Debug)]
pub struct Minted {
    pub secret: Secret,
    /// SHA-256 of the secret, hex: what the store keeps.
    pub hash: String,
    /// `hgr_pat_AbCd`: enough to recognise the token in a listing, too little to guess it.
    pub prefix: String,
}

/// What a presented credential looks like, judged without any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A well-formed Hangar token with a matching checksum.
    Valid(Format),
    /// Starts with `hgr_` but is not a well-formed token: refuse it at once.
    Malformed,
    /// Not a Hangar-format token (only the bootstrap token may look like this).
    Foreign,
}

/// The only read of the random generator for secrets: `N` bytes from a cryptographically secure
/// generator seeded by the operating system.
fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A fresh random secret (webhook secrets and the like): 32 random bytes as 64 hex digits.
pub fn mint() -> String {
    hex::encode(random::<32>())
}

/// The letters of user codes (RFC 8628 §6.1): consonants only, so no word is spelled and no
/// letter is mistaken for a digit.
const USER_CODE_LETTERS: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A fresh user code for the device authorization grant: 8 letters drawn uniformly from 20
/// (about 34.6 bits), shown as `WDJB-MJHT`. Bytes of 240 or more are thrown away (240 = 12 * 20),
/// so `byte % 20` has no bias.
pub fn mint_user_code() -> String {
    let mut letters = Vec::with_capacity(8);
    while letters.len() < 8 {
        for b in random::<16>() {
            if b < 240 && letters.len() < 8 {
                letters.push(USER_CODE_LETTERS[usize::from(b % 20)]);
            }
        }
    }
    let text: String = letters.into_iter().map(char::from).collect();
    format!("{}-{}", &text[..4], &text[4..])
}

/// A user code as typed (any case, with or without the dash or spaces) in the one form its hash
/// is taken of; `None` when it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 8 && code.bytes().all(|b| USER_CODE_LETTERS.contains(&b))).then_some(code)
}

/// `n` base62 characters, each uniform: bytes of 248 or more are thrown away (248 = 4 * 62),
/// so `byte % 62` has no bias.
fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random::<48>() {
            if b < 248 && out.len() < n {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// The checksum of `body` (the token up to its last `_`): 6 base62 digits of its CRC-32.
fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = u64::from(CRC.checksum(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        // n % 62 < 62: the index is always in range.
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// The prefix of a remote runner's token: good only at `/api/runner` (the API proper refuses
/// it as malformed, since it is none of [`Format`]'s).
pub const RUNNER_PREFIX: &str = "hgr_rn_";

/// Mints a new API token of `format`.
pub fn mint_token(format: Format) -> Minted {
    mint_with_prefix(format.prefix())
}

/// Mints a remote runner's token (`hgr_rn_`, the same shape as API tokens).
pub fn mint_runner_token() -> Minted {
    mint_with_prefix(RUNNER_PREFIX)
}

/// Whether `token` has the shape of a runner's token (prefix, length, alphabet, checksum).
pub fn is_runner_token(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(RUNNER_PREFIX) else {
        return false;
    };
    let Some((random, check)) = rest.split_once('_') else {
        return false;
    };
    random.len() == RANDOM_LEN
        && check.len() == CHECKSUM_LEN
        && random
            .bytes()
            .chain(check.bytes())
            .all(|b| b.is_ascii_alphanumeric())
        && checksum(&token[..token.len() - CHECKSUM_LEN - 1]) == check.as_bytes()
}

fn mint_with_prefix(prefix: &str) -> Minted {
    let body = format!("{prefix}{}", random_base62(RANDOM_LEN));
    let check = checksum(&body);
    let mut token = body;
    token.push('_');
    token.extend(check.iter().map(|&b| char::from(b)));
    Minted {
        hash: hash(&token),
        prefix: token
            .get(..prefix.len() + SHOWN)
            .unwrap_or(prefix)
            .to_string(),
        secret: Secret::new(token),
    }
}

/// Judges a presented credential by its shape alone: prefix, length, alphabet, checksum.
pub fn parse(token: &str) -> Shape {
    if !token.starts_with("hgr_") {
        return Shape::Foreign;
    }
    let Some(format) = Format::ALL
        .into_iter()
        .find(|f| token.starts_with(f.prefix()))
    else {
        return Shape::Malformed;
    };
    let rest = &token[format.prefix().len()..];
    let Some((random, check)) = rest.split_once('_') else {
        return Shape::Malformed;
    };
    let base62 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    if random.len() != RANDOM_LEN
        || check.len() != CHECKSUM_LEN
        || !base62(random)
        || !base62(check)
    {
        return Shape::Malformed;
    }
    let body = &token[..token.len() - CHECKSUM_LEN - 1];
    if checksum(body) == check.as_bytes() {
        Shape::Valid(format)
    } else {
        Shape::Malformed
    }
}

/// SHA-256 of a token, raw: the cache key.
pub fn digest(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The stored form of a token: SHA-256, hex. Tokens are random and long, so a fast hash is
/// enough (there is nothing to guess from).
pub fn hash(token: &str) -> String {
    hex::encode(digest(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_token_has_its_own_shape_and_is_no_api_token() {
        let minted = mint_runner_token();
        let token = minted.secret.expose();
        assert!(token.starts_with(RUNNER_PREFIX));
        assert!(is_runner_token(token));
        assert_eq!(parse(token), Shape::Malformed);
        let mut typo = token.to_string();
        typo.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
        assert!(!is_runner_token(&typo));
        assert!(!is_runner_token(
            mint_token(Format::Personal).secret.expose()
        ));
    }

    #[test]
    fn minted_secrets_are_long_and_different() {
        let a = mint();
        let b = mint();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn the_hash_does_not_contain_the_token() {
        let t = mint();
        assert!(!hash(&t).contains(&t));
        assert_eq!(hash(&t), hash(&t));
    }

    #[test]
    fn a_personal_token_has_its_prefix_random_part_and_checksum() {
        let m = mint_token(Format::Personal);
        let t = m.secret.expose();
        assert!(t.starts_with("hgr_pat_"), "{t}");
        assert_eq!(t.len(), "hgr_pat_".len() + RANDOM_LEN + 1 + CHECKSUM_LEN);
        let (body, check) = t.rsplit_once('_').expect("a checksum");
        assert_eq!(check.as_bytes(), checksum(body));
        assert_eq!(parse(t), Shape::Valid(Format::Personal));
        assert_eq!(m.hash, hash(t));
        assert_eq!(m.prefix, &t[..12]);
    }

    #[test]
    fn each_format_has_its_own_prefix_and_parses_back() {
        for f in Format::ALL {
            let m = mint_token(f);
            assert!(m.secret.expose().starts_with(f.prefix()));
            assert_eq!(parse(m.secret.expose()), Shape::Valid(f));
            assert_eq!(Format::of(f.kind()), Some(f));
        }
        assert_eq!(Format::of(TokenKind::Bootstrap), None);
    }

    #[test]
    fn any_flipped_character_is_refused_by_shape_alone() {
        let m = mint_token(Format::Service);
        let t = m.secret.expose();
        for i in "hgr_sa_".len()..t.len() {
            let mut bytes = t.as_bytes().to_vec();
            if bytes[i] == b'_' {
                continue;
            }
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let flipped = String::from_utf8(bytes).expect("ascii");
            assert_eq!(parse(&flipped), Shape::Malformed, "position {i}");
        }
    }

    #[test]
    fn wrong_lengths_alphabets_and_prefixes_are_malformed() {
        let t = mint_token(Format::Personal).secret.expose().to_string();
        assert_eq!(parse(&t[..t.len() - 1]), Shape::Malformed);
        assert_eq!(parse(&format!("{t}0")), Shape::Malformed);
        assert_eq!(
            parse(&t.replacen("hgr_pat_", "hgr_xyz_", 1)),
            Shape::Malformed
        );
        assert_eq!(parse("hgr_pat_"), Shape::Malformed);
        assert_eq!(
            parse("hgr_pat_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!_000000"),
            Shape::Malformed
        );
        assert_eq!(parse("hgr_"), Shape::Malformed);
    }

    #[test]
    fn other_strings_are_foreign() {
        assert_eq!(parse("test-admin-token-0123456789abcdef"), Shape::Foreign);
        assert_eq!(parse(""), Shape::Foreign);
        assert_eq!(parse(&mint()), Shape::Foreign);
    }

    #[test]
    fn the_random_part_uses_the_whole_alphabet_evenly() {
        let mut counts = [0u32; 62];
        for _ in 0..2_000 {
            for b in random_base62(31).bytes() {
                let i = BASE62.iter().position(|&c| c == b).expect("base62");
                counts[i] += 1;
            }
        }
        // 62,000 draws: 1,000 expected per letter.
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_debug_form_of_a_minted_token_hides_the_secret() {
        let m = mint_token(Format::Personal);
        let shown = format!("{m:?}");
        assert!(!shown.contains(m.secret.expose()));
    }

    #[test]
    fn user_codes_are_short_typable_and_read_back_however_typed() {
        let code = mint_user_code();
        assert_eq!(code.len(), 9, "{code}");
        assert_eq!(&code[4..5], "-");
        let plain = normalize_user_code(&code).expect("a user code");
        assert_eq!(
            normalize_user_code(&code.to_lowercase()),
            Some(plain.clone())
        );
        assert_eq!(normalize_user_code(&plain), Some(plain));
        assert_ne!(mint_user_code(), mint_user_code());
        for bad in ["", "WDJB-MJH", "WDJB-MJHA", "WDJB-MJHT1", "WDJB-MJH0"] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_checksum_is_crc32_in_base62() {
        // CRC-32 of "123456789" is 0xCBF43926 = 3421780262 = "3jZRME" in base62.
        assert_eq!(u64::from(CRC.checksum(b"123456789")), 0xCBF4_3926);
        assert_eq!(&checksum("123456789"), b"3jZRME");
    }
}
