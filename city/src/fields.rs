//! An Open311 request's body as the fields [`crate::ingest::parse_request`] checks: a form
//! (`application/x-www-form-urlencoded`, in the order sent) or a JSON object (by key), flattened
//! to text, with `"attribute": {"code": "value" | ["a", "b"]}` as `attribute[code]` fields. Bounded as it
//! goes: at most [`MAX_FIELDS`] fields and attribute codes of at most [`MAX_CODE`] bytes, so a
//! hostile body costs no more than its own size.

use crate::ingest::IngestError;

/// Most fields one request may hold.
pub const MAX_FIELDS: usize = 128;
/// Longest attribute code (bytes).
pub const MAX_CODE: usize = 64;

/// A form's fields, in order.
pub fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, IngestError> {
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.len() == MAX_FIELDS {
            return Err(too_many());
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn too_many() -> IngestError {
    IngestError::new(None, "body", format!("more than {MAX_FIELDS} fields"))
}

/// A JSON object's fields (a list's values in order); values that are not text as their JSON.
pub fn json_fields(body: &[u8]) -> Result<Vec<(String, String)>, IngestError> {
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| IngestError::new(None, "body", format!("not a JSON object: {e}")))?;
    if v.len() > MAX_FIELDS {
        return Err(too_many());
    }
    let text = |v: serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut out = Vec::with_capacity(v.len());
    for (k, v) in v {
        let serde_json::Value::Object(attrs) = v else {
            out.push((k, text(v)));
            continue;
        };
        if k != "attribute" {
            out.push((k, serde_json::Value::Object(attrs).to_string()));
            continue;
        }
        for (code, value) in attrs {
            if code.len() > MAX_CODE {
                let shown: String = code.chars().take(16).collect();
                return Err(IngestError::new(None, "attribute", format!("{shown:?}…: a code longer than {MAX_CODE}")));
            }
            let values = match value {
                serde_json::Value::Array(values) => values,
                value => vec![value],
            };
            if out.len() + values.len() > MAX_FIELDS {
                return Err(too_many());
            }
            let many = values.len() > 1;
            for v in values {
                out.push((format!("attribute[{code}]{}", if many { "[]" } else { "" }), text(v)));
            }
        }
        if out.len() > MAX_FIELDS {
            return Err(too_many());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_fields_in_order_and_within_bounds() {
        let f = form_fields(b"service_code=noise&attribute%5Bsource%5D=traffic&lat=1&lat=2").unwrap();
        assert_eq!(f[1], ("attribute[source]".into(), "traffic".into()));
        assert_eq!(f.len(), 4, "repeats kept: the first counts");
        let j = json_fields(
            br#"{"service_code":"garbage","lat":60.1,"attribute":{"waste":["bulky","garden"],"volume_m3":2}}"#,
        )
        .unwrap();
        let has = |k: &str, v: &str| j.contains(&(k.to_owned(), v.to_owned()));
        assert!(has("lat", "60.1") && has("service_code", "garbage") && has("attribute[volume_m3]", "2"), "{j:?}");
        assert!(has("attribute[waste][]", "bulky") && has("attribute[waste][]", "garden"), "{j:?}");
        assert_eq!(j.len(), 5);
        // Too many, however they come.
        let form = "a=1&".repeat(MAX_FIELDS + 1);
        assert!(form_fields(form.as_bytes()).is_err());
        let many = format!(r#"{{"attribute":{{"waste":[{}]}}}}"#, vec!["\"bulky\""; MAX_FIELDS + 1].join(","));
        assert!(json_fields(many.as_bytes()).is_err());
        let long = format!(r#"{{"attribute":{{"{}":["x","y"]}}}}"#, "c".repeat(MAX_CODE + 1));
        assert!(json_fields(long.as_bytes()).is_err());
        assert!(json_fields(b"[1,2]").is_err());
    }
}
