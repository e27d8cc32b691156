//! Scalars and map keys the way go-yaml v2 and `sigs.k8s.io/yaml` turn them into JSON:
//! YAML 1.1 plain-scalar resolution, Go's integer and float syntax, and Go's formatting
//! of non-string keys.

use granit_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};

/// The string a map key becomes in JSON, as `sigs.k8s.io/yaml` writes it.
pub(super) fn json_key(key: &Value) -> Result<String, String> {
    match key {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) if number.is_i64() => Ok(number.to_string()),
        Value::Number(number) => match number.as_f64() {
            Some(float) if !number.is_u64() => Ok(go_float32_key(float)),
            _ => Err(format!("a map key of {number} is not supported")),
        },
        Value::Null => Err("a map key of null is not supported".into()),
        Value::Array(_) | Value::Object(_) => Err("a map key must be a scalar".into()),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`, which `sigs.k8s.io/yaml` uses for float keys:
/// the shortest text that reads back as the same 32-bit float.
fn go_float32_key(float: f64) -> String {
    #[allow(clippy::cast_possible_truncation)] // What Go does: the key is a float32.
    let single = float as f32;
    let text = format!("{single:e}");
    // Rust writes `1.5e0`; Go's %g writes `1.5` for exponents in [-4, 21), else `1.5e+21`.
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..21).contains(&exponent) {
        format!("{single}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

pub(super) fn is_core(tag: &Tag, suffix: &str) -> bool {
    tag.is_yaml_core_schema_tag(suffix)
}

/// One scalar as go-yaml v2 decodes it into `interface{}`: plain scalars are resolved
/// (YAML 1.1), quoted and block scalars are strings, a core tag (`!!str`, `!!int`, ...)
/// forces its type, any other tag leaves the text as it is.
pub(super) fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else {
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.to_string()));
        }
        if let Some(name) = non_finite(text) {
            return Err(format!(
                "{text} is the float {name}, which JSON cannot carry (kubectl refuses it too); quote it if it is text"
            ));
        }
        return Ok(resolve_plain(text));
    };
    let wanted = ["str", "int", "float", "bool", "null", "binary", "timestamp"]
        .into_iter()
        .find(|suffix| is_core(tag, suffix));
    let resolved = resolve_plain(text);
    match wanted {
        None | Some("str" | "binary" | "timestamp") => Ok(Value::String(text.to_string())),
        Some("int")
            if resolved
                .as_number()
                .is_some_and(|n| n.is_i64() || n.is_u64()) =>
        {
            Ok(resolved)
        }
        Some("float") => match &resolved {
            Value::Number(number) => Ok(number
                .as_f64()
                .and_then(Number::from_f64)
                .map_or(resolved.clone(), Value::Number)),
            Value::String(_) if non_finite(text).is_some() => {
                Err(format!("{text} is not a number JSON can carry"))
            }
            _ => Err(format!("cannot decode {text:?} as a float")),
        },
        Some("bool") if resolved.is_boolean() => Ok(resolved),
        Some("null") if resolved.is_null() => Ok(resolved),
        Some(kind) => Err(format!("cannot decode {text:?} as {kind}")),
    }
}

const TRUE_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
];
const FALSE_WORDS: &[&str] = &[
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
];
const NULL_WORDS: &[&str] = &["", "~", "null", "Null", "NULL"];
/// YAML's infinities and NaN: go-yaml reads them as floats, which JSON cannot carry, so
/// kubectl refuses the document.
const NON_FINITE: &[(&[&str], &str)] = &[
    (&[".nan", ".NaN", ".NAN"], "NaN"),
    (&[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], "+Inf"),
    (&["-.inf", "-.Inf", "-.INF"], "-Inf"),
];

/// go-yaml v2's `resolve` for an untagged plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    if TRUE_WORDS.contains(&text) {
        return Value::Bool(true);
    }
    if FALSE_WORDS.contains(&text) {
        return Value::Bool(false);
    }
    if NULL_WORDS.contains(&text) {
        return Value::Null;
    }
    match text.as_bytes().first() {
        Some(b'.') => go_float(text).map_or_else(|| Value::String(text.into()), float_value),
        Some(b'0'..=b'9' | b'+' | b'-') => {
            let plain = text.replace('_', "");
            if let Some(int) = go_parse_int(&plain) {
                return int;
            }
            if is_yaml_style_float(&plain)
                && let Some(float) = go_float(&plain)
            {
                return float_value(float);
            }
            Value::String(text.into())
        }
        _ => Value::String(text.into()),
    }
}

fn float_value(float: f64) -> Value {
    // Finite by construction: go_float refuses overflow, and the non-finite words are
    // never reached here.
    Number::from_f64(float).map_or(Value::Null, Value::Number)
}

/// `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: an optional sign, then `0x`, `0o`,
/// `0b` or a leading `0` (octal) prefix, or decimal.
fn go_parse_int(text: &str) -> Option<Value> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(rest) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = unsigned
        .strip_prefix("0o")
        .or_else(|| unsigned.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = unsigned
        .strip_prefix("0b")
        .or_else(|| unsigned.strip_prefix("0B"))
    {
        (2, rest)
    } else if unsigned.len() > 1 && unsigned.starts_with('0') {
        (8, &unsigned[1..])
    } else {
        (10, unsigned)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        // -9223372036854775808 fits; anything below does not.
        let value = 0i64.checked_sub_unsigned(magnitude)?;
        Some(Value::from(value))
    } else {
        Some(Value::from(magnitude))
    }
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml lets through: `None` when
/// it does not parse or overflows (Go reports a range error; go-yaml then keeps the
/// text as a string).
fn go_float(text: &str) -> Option<f64> {
    let valid = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Whether `text` is one of YAML's infinities or NaN, which kubectl refuses.
pub fn non_finite(text: &str) -> Option<&'static str> {
    NON_FINITE
        .iter()
        .find(|(words, _)| words.contains(&text))
        .map(|(_, name)| *name)
}
