//! Content templates (Twilio's Content API): `{{variable}}` substitution.

use std::collections::BTreeMap;

/// Variable values by name (`"1"`, `"name"`, …).
pub type Variables = BTreeMap<String, String>;

/// Parses `ContentVariables`: a JSON object whose values are strings (numbers and booleans are
/// taken as their text). `None` when it is not such an object.
pub fn parse_variables(json: &str) -> Option<Variables> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let object = value.as_object()?;
    object
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.clone(), text))
        })
        .collect()
}

/// Replaces each `{{name}}` (spaces inside the braces allowed) with the message's value, else
/// the template's default, else leaves it as written.
pub fn render(template: &str, defaults: &Variables, values: &Variables) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match values.get(name).or_else(|| defaults.get(name)) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn values_win_over_defaults_and_unknown_names_stay() {
        let defaults = vars(&[("1", "friend"), ("2", "soon")]);
        let values = vars(&[("1", "Ada")]);
        assert_eq!(
            render("Hi {{1}}, see you {{ 2 }} at {{place}}", &defaults, &values),
            "Hi Ada, see you soon at {{place}}"
        );
        assert_eq!(render("open {{1", &defaults, &values), "open {{1");
    }

    #[test]
    fn variables_must_be_a_json_object_of_scalars() {
        assert_eq!(parse_variables(r#"{"1":"Ada","2":3}"#), Some(vars(&[("1", "Ada"), ("2", "3")])));
        assert_eq!(parse_variables("not json"), None);
        assert_eq!(parse_variables("[1,2]"), None);
        assert_eq!(parse_variables(r#"{"1":{"x":1}}"#), None);
    }
}
