//! Human output: aligned tables and `key: value` listings.

use std::time::Duration;

use horae::duration::format_duration;
use jiff::Timestamp;
use serde_json::Value;

/// Prints a table: a header row and the rows, columns separated by two spaces and padded to
/// the widest cell (the last column is not padded).
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", render_table(headers, rows));
}

/// The text of [`table`].
pub(crate) fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A record's fields in the order its type declares them (a JSON map would sort them).
///
/// # Errors
///
/// The serialization error (none for the model's types).
pub(crate) fn ordered_fields<T: serde::Serialize>(
    record: &T,
) -> Result<Vec<(String, Value)>, serde_json::Error> {
    struct Ordered(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ordered, D::Error> {
            struct Fields;
            impl<'de> serde::de::Visitor<'de> for Fields {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Ordered, A::Error> {
                    let mut fields = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Value>()? {
                        fields.push(entry);
                    }
                    Ok(Ordered(fields))
                }
            }
            deserializer.deserialize_map(Fields)
        }
    }
    let text = serde_json::to_string(record)?;
    Ok(serde_json::from_str::<Ordered>(&text)?.0)
}

/// Prints fields as `key  value` lines, keys aligned; strings unquoted, other values as
/// compact JSON, absent (null) values as `-`.
pub(crate) fn fields(fields: &[(String, Value)]) {
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (key, value) in fields {
        println!("{key:<width$}  {}", cell(value));
    }
}

/// Prints a record with [`fields`], replacing or adding the `extra` fields.
///
/// # Errors
///
/// The serialization error (none for the model's types).
pub(crate) fn record<T: serde::Serialize>(
    record: &T,
    extra: &[(&str, Value)],
) -> Result<(), serde_json::Error> {
    let mut list = ordered_fields(record)?;
    for (key, value) in extra {
        match list.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => list.push(((*key).to_owned(), value.clone())),
        }
    }
    fields(&list);
    Ok(())
}

/// A JSON value as a table cell.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A time for a table: RFC 3339 in UTC to the second, `-` when absent.
pub(crate) fn time(at: Option<Timestamp>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |at| at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
    )
}

/// A duration for a table, `-` when absent.
pub(crate) fn duration(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_owned(), format_duration)
}

/// `text` cut to `max` characters with an ellipsis.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned() {
        let text = render_table(
            &["ID", "TASK", "PAUSED"],
            &[
                vec!["nightly".into(), "backup".into(), "no".into()],
                vec!["a".into(), "long-task-name".into(), "yes".into()],
            ],
        );
        assert_eq!(
            text,
            "ID       TASK            PAUSED\nnightly  backup          no\na        long-task-name  yes\n"
        );
    }

    #[test]
    fn fields_keep_the_declared_order() {
        #[derive(serde::Serialize)]
        struct R {
            zebra: u8,
            apple: Option<u8>,
        }
        let fields = ordered_fields(&R {
            zebra: 1,
            apple: None,
        })
        .unwrap();
        assert_eq!(
            fields,
            vec![
                ("zebra".to_owned(), serde_json::json!(1)),
                ("apple".to_owned(), Value::Null)
            ]
        );
    }

    #[test]
    fn cells_and_clipping() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!("x")), "x");
        assert_eq!(cell(&serde_json::json!([1])), "[1]");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(
            time(Some("2026-01-01T00:00:00.6Z".parse().unwrap())),
            "2026-01-01T00:00:01Z"
        );
        assert_eq!(time(None), "-");
    }
}
