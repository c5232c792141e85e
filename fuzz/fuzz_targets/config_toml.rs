//! The `horae run` config loader: TOML text to a checked configuration, as the daemon reads
//! its `--config` file. Invalid text must be an error naming the file (with a line and
//! column inside the text when it gives one), never a panic; every schedule of a config that
//! passes has a trigger specification that builds.

#![no_main]

use horae::trigger::Trigger;
use libfuzzer_sys::fuzz_target;

const NAME: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match horae_cli::check_config(text, NAME, horae_fuzz::now()) {
        Ok(triggers) => {
            for spec in triggers {
                let trigger = Trigger::from_json(&spec, horae_fuzz::now()).unwrap_or_else(|e| {
                    panic!("the config accepted a trigger that does not build: {e}\n{spec}")
                });
                horae_fuzz::check_trigger(&spec, trigger);
            }
        }
        Err(message) => check_error(text, &message),
    }
});

/// `fuzz.toml, line L, column C: key: message` points into the text; other errors name
/// the key.
fn check_error(text: &str, message: &str) {
    assert!(!message.trim().is_empty(), "empty error message");
    let Some(rest) = message.strip_prefix(NAME) else {
        // Errors of the whole-config checks name the key instead (`node.id: ...`).
        assert!(
            message.contains(": "),
            "an error names neither the file nor a key: {message:?}"
        );
        return;
    };
    let Some(place) = rest.strip_prefix(", line ") else {
        return;
    };
    let (line, place) = place.split_once(", column ").unwrap_or_else(|| {
        panic!("no column in {message:?}");
    });
    let column = place.split(':').next().unwrap_or_default();
    let (Ok(line), Ok(column)) = (line.parse::<usize>(), column.parse::<usize>()) else {
        panic!("bad line or column in {message:?}");
    };
    let lines = text.split('\n').count();
    assert!(
        (1..=lines).contains(&line),
        "line {line} outside the text's {lines} lines: {message:?}"
    );
    let width = text
        .split('\n')
        .nth(line - 1)
        .map_or(0, |l| l.chars().count());
    assert!(
        (1..=width + 1).contains(&column),
        "column {column} outside line {line} ({width} characters): {message:?}"
    );
}
