//! Untrusted input: hostile files fail fast with a bounded error, never a panic.

use std::fmt::Write as _;
use std::path::PathBuf;

use cors_policy::{Code, LoadError, MAX_FILE_SIZE, Policy};
use rstest::rstest;

fn only_error(result: Result<cors_policy::LoadedPolicy, LoadError>) -> cors_policy::Diagnostic {
    let error = result.expect_err("a hostile input must be refused");
    assert_eq!(error.diagnostics().len(), 1, "{error}");
    error.diagnostics()[0].clone()
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        TempFile(std::env::temp_dir().join(format!("cors-policy-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn very_deep_flow_nesting_is_refused() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let d = only_error(Policy::from_yaml_str(&text, "deep.yaml"));
    assert_eq!((d.code(), d.line()), (Code::TooDeep, Some(1)));
}

#[test]
fn deep_nesting_is_refused_at_the_cap() {
    let text = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let d = only_error(Policy::from_yaml_str(&text, "deep.yaml"));
    assert_eq!((d.code(), d.line(), d.column()), (Code::TooDeep, Some(1), Some(65)));
    assert_eq!(d.message(), "nesting deeper than 64 levels");
}

#[test]
fn deep_block_nesting_is_refused() {
    let mut text = String::new();
    for depth in 0..200 {
        writeln!(text, "{}k{depth}:", "  ".repeat(depth)).unwrap();
    }
    let d = only_error(Policy::from_yaml_str(&text, "deep.yaml"));
    assert_eq!(d.code(), Code::TooDeep);
}

/// Nesting built of aliases counts as written nesting: each anchor holds the one before it in
/// one more list, so the copies nested as deep as the node budget let them (316 levels, each a
/// level of recursion for what walks the tree) where 65 written levels are refused. The 63rd
/// anchor, on line 65, is the 65th level (the top mapping and its list are the first two).
#[test]
fn nesting_through_aliases_is_refused_at_the_cap() {
    let mut text = String::from("publicResource: false\na0: &a0 [x]\n");
    for k in 1..100 {
        writeln!(text, "a{k}: &a{k} [*a{}]", k - 1).unwrap();
        if k == 62 {
            // 64 levels: read, and refused only for its unknown keys.
            let error = Policy::from_yaml_str(&text, "deep.yaml").unwrap_err();
            assert!(error.diagnostics().iter().all(|d| d.code() == Code::UnknownKey), "{error}");
        }
    }
    let d = only_error(Policy::from_yaml_str(&text, "deep.yaml"));
    assert_eq!((d.code(), d.line()), (Code::TooDeep, Some(65)), "{d}");
    assert_eq!(d.message(), "nesting deeper than 64 levels");
}

#[test]
fn billion_laughs_fails_fast() {
    let mut text = String::from(
        "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(", ");
        writeln!(text, "{}: &{} [{refs}]", pair[1], pair[1]).unwrap();
    }
    let d = only_error(Policy::from_yaml_str(&text, "lol.yaml"));
    assert_eq!(d.code(), Code::TooManyNodes);
    assert_eq!(d.message(), "more than 100000 nodes, counting alias expansions");
    // The budget runs out at the first alias level that exceeds it, not at the end.
    assert!(d.line() <= Some(6), "{d}");
}

#[test]
fn text_over_the_size_cap_is_refused_before_parsing() {
    let text = "#".repeat(MAX_FILE_SIZE + 1);
    let d = only_error(Policy::from_yaml_str(&text, "big.yaml"));
    assert_eq!(d.code(), Code::TooLarge);
    assert_eq!(
        d.to_string(),
        "big.yaml: error: the file is 1048577 bytes, more than the 1048576-byte limit"
    );
}

/// A file of exactly [`MAX_FILE_SIZE`] bytes is within the cap however it comes (text, bytes, a
/// file), and is read whole: its last byte, the `e` of `false`, decides its last value.
#[test]
fn a_file_of_exactly_the_size_cap_is_read_whole() {
    let head = "originGroups:\n  - origins: [\"https://a.test\"]\n";
    let last = "publicResource: false";
    let padding = "#".repeat(MAX_FILE_SIZE - head.len() - last.len() - 1);
    let text = format!("{head}{padding}\n{last}");
    assert_eq!(text.len(), MAX_FILE_SIZE);
    let file = TempFile::new("exact.yaml");
    std::fs::write(&file.0, &text).unwrap();
    for loaded in [
        Policy::from_yaml_str(&text, "exact.yaml"),
        Policy::from_yaml_bytes(text.as_bytes(), "exact.yaml"),
        Policy::from_yaml_file(&file.0),
    ] {
        let loaded = loaded.unwrap();
        assert!(!loaded.policy.is_public_resource());
        assert_eq!(loaded.policy.groups().len(), 1);
    }
}

#[test]
fn a_100_mb_file_is_refused_without_reading_it() {
    let file = TempFile::new("huge.yaml");
    let handle = std::fs::File::create(&file.0).unwrap();
    handle.set_len(100 * 1024 * 1024).unwrap(); // sparse: nothing is written
    let d = only_error(Policy::from_yaml_file(&file.0));
    assert_eq!(d.code(), Code::TooLarge);
    assert!(d.message().starts_with("the file is 104857600 bytes"), "{d}");
}

#[rstest]
#[case::in_a_value(
    b"publicResource: false\noriginGroups:\n  - origins: [\"https://\xe9.test\"]\n",
    3,
    24,
    59
)]
// After a byte order mark: at the column an editor shows, and at its offset in the file (F-AT).
#[case::after_a_byte_order_mark(b"\xef\xbb\xbfpublicResource: \xe9\n", 1, 17, 19)]
// At the line YAML counts, whatever breaks the lines (it was 1:29 with lone CRs).
#[case::crlf_breaks(b"publicResource: false\r\nname: \xe9\r\n", 2, 7, 29)]
#[case::cr_breaks(b"publicResource: false\rname: \xe9\r", 2, 7, 28)]
fn non_utf8_is_reported_at_the_bad_byte(
    #[case] bytes: &[u8],
    #[case] line: usize,
    #[case] column: usize,
    #[case] offset: usize,
) {
    let d = only_error(Policy::from_yaml_bytes(bytes, "latin1.yaml"));
    assert_eq!((d.code(), d.line(), d.column()), (Code::NotUtf8, Some(line), Some(column)));
    assert_eq!(d.message(), format!("invalid UTF-8 byte 0xe9 (byte {offset})"));
}

/// A file in one of the other encodings YAML 1.2 names (section 5.2), detected as YAML detects
/// them, is refused with the encoding named: it was "invalid UTF-8 byte 0xff (byte 0)", or with
/// no byte order mark a NUL at 1:2. Windows PowerShell 5's `>` writes UTF-16LE with a mark.
#[rstest]
#[case::utf16le_mark(b"\xff\xfep\0u\0b\0", "UTF-16LE (by its byte order mark)")]
#[case::utf16be_mark(b"\xfe\xff\0p\0u\0b", "UTF-16BE (by its byte order mark)")]
#[case::utf32le_mark(b"\xff\xfe\0\0p\0\0\0", "UTF-32LE (by its byte order mark)")]
#[case::utf32be_mark(b"\0\0\xfe\xff\0\0\0p", "UTF-32BE (by its byte order mark)")]
#[case::utf16le(b"p\0u\0b\0", "UTF-16LE (by the zero bytes of its first character)")]
#[case::utf16be(b"\0p\0u\0b", "UTF-16BE (by the zero bytes of its first character)")]
#[case::utf32le(b"p\0\0\0u\0\0\0", "UTF-32LE (by the zero bytes of its first character)")]
#[case::utf32be(b"\0\0\0p\0\0\0u", "UTF-32BE (by the zero bytes of its first character)")]
fn a_file_in_another_encoding_is_refused_naming_it(#[case] bytes: &[u8], #[case] named: &str) {
    let d = only_error(Policy::from_yaml_bytes(bytes, "utf16.yaml"));
    assert_eq!((d.code(), d.line(), d.column()), (Code::NotUtf8, Some(1), Some(1)), "{d}");
    assert_eq!(d.message(), format!("the file is in {named}, not in UTF-8"));
    assert_eq!(d.hint(), Some("save the file as UTF-8"));
}

/// YAML allows no C0 control character but tab and line breaks (YAML 1.2.2 section 5.1). A NUL
/// ended the text for `yaml-rust2`: what followed it was dropped without a word, so a
/// `supportCredentials: true`, a group or a misspelt key after it went unread (finding F-CA).
/// The others were read as content.
#[rstest]
#[case::nul_before_a_key(b"publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n\0supportCredentials: true\n", 4, 1, "U+0000")]
#[case::nul_ending_a_value(b"publicResource: false\x00\nbogus: 1\n", 1, 22, "U+0000")]
#[case::zeros_after_the_text(b"publicResource: false\n\0\0\0\0", 2, 1, "U+0000")]
#[case::in_a_group_name(
    b"publicResource: false\noriginGroups:\n  - name: a\x1bb\n    origins: [\"https://a.test\"]\n",
    3,
    12,
    "U+001B"
)]
#[case::after_a_byte_order_mark(b"\xef\xbb\xbfpublicResource:\x01 false\n", 1, 16, "U+0001")]
// Lines break where YAML breaks them, at CRLF and at a lone CR (classic Mac OS) too: the lone
// CR's file had the NUL at 1:40 before, the third line's start for the reader.
#[case::crlf_breaks(b"publicResource: false\r\noriginGroups: []\r\n\0bogus: 1\r\n", 3, 1, "U+0000")]
#[case::cr_breaks(b"publicResource: false\roriginGroups: []\r\0bogus: 1\r", 3, 1, "U+0000")]
#[case::cr_breaks_mid_line(b"publicResource: false\rname: a\x1bb\r", 2, 8, "U+001B")]
fn a_control_character_is_reported_where_it_is(
    #[case] bytes: &[u8],
    #[case] line: usize,
    #[case] column: usize,
    #[case] named: &str,
) {
    let d = only_error(Policy::from_yaml_bytes(bytes, "control.yaml"));
    assert_eq!((d.code(), d.line(), d.column()), (Code::Syntax, Some(line), Some(column)), "{d}");
    assert!(d.message().contains(named), "{d}");
}

#[test]
fn non_utf8_file_is_reported_at_the_bad_byte() {
    let file = TempFile::new("latin1.yaml");
    std::fs::write(&file.0, b"# caf\xc3\xa9 \xff\n").unwrap();
    let d = only_error(Policy::from_yaml_file(&file.0));
    assert_eq!((d.code(), d.line(), d.column()), (Code::NotUtf8, Some(1), Some(8)));
}

/// A path that is no regular file is refused before it is opened: opening a fifo for reading
/// waits for a writer, which may never come, so a policy file replaced by one held the
/// gateway's start, or its reload for good, and `CorsLayer::from_yaml_file` a service's start; a
/// device was read up to the size cap (finding F-CD). Local Mode folders and TLS files refused
/// them already (F-S, F-AB).
#[cfg(unix)]
#[test]
fn a_path_that_is_no_regular_file_is_refused_unread() {
    let fifo = TempFile::new("fifo.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo.0).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let path = fifo.0.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(Policy::from_yaml_file(&path).map(|_| ())));
    let outcome = receiver.recv_timeout(std::time::Duration::from_secs(10));
    if outcome.is_err() {
        // Let the blocked reader go before failing.
        drop(std::fs::OpenOptions::new().write(true).open(&fifo.0));
    }
    let error = outcome.expect("from_yaml_file still waits for a writer after 10 s").unwrap_err();
    let d = &error.diagnostics()[0];
    assert_eq!(d.code(), Code::Io);
    assert!(d.message().ends_with("not a regular file but a fifo"), "{d}");

    let d = only_error(Policy::from_yaml_file("/dev/zero"));
    assert_eq!((d.code(), d.message()), (Code::Io, "not a regular file but a character device"));
}

#[test]
fn a_missing_file_is_an_io_error() {
    let d = only_error(Policy::from_yaml_file("/nonexistent/cors.yaml"));
    assert_eq!(d.code(), Code::Io);
    assert!(
        d.to_string().starts_with("/nonexistent/cors.yaml: error: cannot read the file"),
        "{d}"
    );
}

#[test]
fn too_many_documents_are_refused() {
    let text = "a: 1\n---\n".repeat(20);
    let d = only_error(Policy::from_yaml_str(&text, "many.yaml"));
    assert_eq!(d.code(), Code::Documents);
    assert_eq!(d.message(), "more than 16 documents");
}

/// "Billion laughs" with few nodes and long texts: each alias of a 10 000-byte string is one
/// node, and each was a copy of the string, so 10 000 of them in a 100 KB file took 300 MB
/// (and a 1 MiB file could ask for 50 GB). The bytes of text, counting alias expansions, have a
/// budget of their own: four times the file's size, at least 1 MiB (finding F-CB).
#[test]
fn alias_expansions_of_a_long_text_hit_the_byte_budget() {
    let text = format!(
        "publicResource: false\nx: &a \"{}\"\noriginGroups:\n  - origins: [{}]\n",
        "a".repeat(10_000),
        vec!["*a"; 10_000].join(", ")
    );
    let d = only_error(Policy::from_yaml_str(&text, "long.yaml"));
    assert_eq!((d.code(), d.line()), (Code::TooManyNodes, Some(4)), "{d}");
    assert_eq!(
        d.message(),
        "more than 1048576 bytes of text, counting alias expansions (four times the file's \
         size, at least 1048576)"
    );
    // A larger file has a larger budget, four times its size.
    let text = format!("{text}# {}\n", "padding".repeat(60_000));
    let d = only_error(Policy::from_yaml_str(&text, "long.yaml"));
    assert!(d.message().starts_with(&format!("more than {} bytes", 4 * text.len())), "{d}");
}

/// A `%TAG` prefix is copied into every tag that names it: 2 000 tags naming a 100 000-byte
/// prefix would put 200 MB of copies into their errors. Each error shows the tag cut short
/// (F-CI).
#[test]
fn errors_of_tags_naming_a_long_prefix_show_it_cut_short() {
    let prefix = "x".repeat(100_000);
    let tags = vec!["!e!a b"; 2_000].join(", ");
    let text = format!("%TAG !e! tag:{prefix}\n---\noriginGroups:\n  - origins: [{tags}]\n");
    let error = Policy::from_yaml_str(&text, "tags.yaml").expect_err("unsupported tags");
    // Each `b` is also an origin error of its own (a tag error does not hide the others).
    let tags: Vec<_> = error.diagnostics().iter().filter(|d| d.code() == Code::Tag).collect();
    assert_eq!(tags.len(), 2_000);
    let shown = format!("unsupported tag !<tag:{}...", "x".repeat(58));
    for d in tags {
        assert_eq!(d.message(), shown.as_str());
    }
}

/// Anchors nested in anchors: the reader keeps a copy of each anchored node for its aliases, so
/// 30 nested anchors around 10 000 items held 300 000 nodes (60 around 99 000, in a 200 KB
/// file: 500 MB) with no alias at all. Those copies count against the node budget (F-CB).
#[test]
fn nested_anchors_hit_the_node_budget() {
    let opening = (0..30).fold(String::new(), |mut text, i| {
        write!(text, "&a{i} [").unwrap();
        text
    });
    let text = format!("x: {opening}{}{}\n", vec!["x"; 10_000].join(","), "]".repeat(30));
    let d = only_error(Policy::from_yaml_str(&text, "nested.yaml"));
    assert_eq!(d.code(), Code::TooManyNodes, "{d}");
}

/// What the budgets leave room for: a file within the size cap that anchors its whole document
/// and aliases a group's origins in each of its groups.
#[test]
fn anchors_and_aliases_of_a_real_policy_are_read() {
    let origins: Vec<String> = (0..500).map(|i| format!("\"https://h{i}.test\"")).collect();
    let groups = "  - {origins: *o, headers: [x-a]}\n".repeat(20);
    let text = format!(
        "&doc\npublicResource: false\noriginGroups:\n  - origins: &o [{}]\n{groups}",
        origins.join(", ")
    );
    let loaded = Policy::from_yaml_str(&text, "aliases.yaml").unwrap();
    assert_eq!(loaded.policy.groups().len(), 21);
}

#[test]
fn huge_flat_lists_hit_the_node_budget() {
    let text = format!("originGroups: [{}]", vec!["{}"; 120_000].join(","));
    let d = only_error(Policy::from_yaml_str(&text, "wide.yaml"));
    assert_eq!(d.code(), Code::TooManyNodes);
}

/// Large files within the size cap are handled in linear time: these would take minutes with
/// quadratic duplicate checks (no timing assertion: the test suite's own timeout is the bound).
#[test]
fn many_entries_are_handled_without_quadratic_work() {
    let origins: Vec<String> = (0..30_000).map(|i| format!("\"https://h{i}.test\"")).collect();
    let text = format!(
        "publicResource: false\noriginGroups:\n  - origins: [{}]\n    headers: [{}]\n",
        origins.join(","),
        (0..20_000).map(|i| format!("x-{i}")).collect::<Vec<_>>().join(",")
    );
    let loaded = Policy::from_yaml_str(&text, "wide.yaml").unwrap();
    assert_eq!(loaded.policy.origins().patterns().len(), 30_000);
    let broken = format!(
        "publicResource: false\noriginGroups:\n  - origins: [{}]\n",
        vec!["{}"; 40_000].join(",")
    );
    let error = Policy::from_yaml_str(&broken, "wide.yaml").unwrap_err();
    assert_eq!(error.diagnostics().len(), 40_000);
    let keys: String = (0..40_000).fold(String::new(), |mut text, i| {
        writeln!(text, "k{i}: 1").unwrap();
        text
    });
    let error = Policy::from_yaml_str(&keys, "keys.yaml").unwrap_err();
    assert_eq!(error.diagnostics().len(), 40_000);
}

/// A diagnostic quotes the value it is about cut short, with its length (`cors_origin::Quoted`):
/// a 100 KB origin gave a 100 KB error line (F-DM). Its place and key path are as before.
#[test]
fn a_long_origin_is_quoted_cut_short_with_its_length() {
    let origin = format!("https://{}.test", "a".repeat(100_000));
    let text = format!("publicResource: false\noriginGroups:\n  - origins:\n    - {origin}\n");
    let d = only_error(Policy::from_yaml_str(&text, "long.yaml"));
    assert_eq!(
        (d.code(), d.path(), d.line(), d.column()),
        (Code::InvalidOrigin, "originGroups[0].origins[0]", Some(4), Some(7))
    );
    assert_eq!(
        d.message(),
        format!(
            "invalid origin pattern \"{}\"… (100013 bytes): origin is longer than 2048 bytes \
             (byte 0)",
            &origin[..198]
        )
    );
    let line = d.to_string();
    assert!(line.len() < 400, "{} bytes: {line}", line.len());
}

/// Aliases made a long value's error lines many: a 1 MiB file aliasing a 200 KB origin 18 times
/// (within the text budget, four times the file's size) wrote 3.6 MB of errors. There are as
/// many lines, each of a few hundred bytes.
#[test]
fn aliases_of_a_long_value_give_as_many_short_lines() {
    let origin = format!("https://{}.test", "a".repeat(200_000));
    let aliases = vec!["*o"; 18].join(", ");
    let text = format!(
        "publicResource: false\nx: &o \"{origin}\"\noriginGroups:\n  - origins: [{aliases}]\n"
    );
    let padding = "#".repeat(MAX_FILE_SIZE - text.len() - 1);
    let text = format!("{text}{padding}\n");
    assert_eq!(text.len(), MAX_FILE_SIZE);
    let error = Policy::from_yaml_str(&text, "aliases.yaml").unwrap_err();
    let codes: Vec<Code> = error.diagnostics().iter().map(cors_policy::Diagnostic::code).collect();
    // The anchor's key `x` is unknown; each alias is an origin too long.
    assert_eq!(codes, [[Code::UnknownKey].as_slice(), &[Code::InvalidOrigin; 18]].concat());
    let stated = format!("… ({} bytes): ", origin.len());
    for d in &error.diagnostics()[1..] {
        let line = d.to_string();
        assert!(line.len() < 400, "{} bytes: {line}", line.len());
        assert!(line.contains(&stated), "{line}");
    }
    let shown = error.to_string();
    assert!(shown.len() < 19 * 400, "{} bytes", shown.len());
}

/// A long key made a long key path, written whole in each of its lines: an explicit YAML key
/// (`? "..."`) has no length limit, and a 1 MiB file aliasing a 200 KB key 18 times as keys of
/// one mapping gave 3.8 MB of output, all in the paths of its `duplicate key` errors. The path
/// is now cut short from the segment at which it passes 200 bytes, with the rest's length, as
/// a quoted value is (`cors_origin::Quoted`); `path()` still gives it whole. A key with dots,
/// read as many short segments, is cut as well; a short path is written as before.
#[rstest]
#[case::one_long_key("k".repeat(200_000))]
#[case::a_long_key_of_short_segments("k.".repeat(100_000))]
fn aliases_of_a_long_key_give_as_many_short_lines(#[case] key: String) {
    let keys = "    ? *k\n    : 1\n".repeat(18);
    let text = format!(
        "publicResource: false\nx: &k \"{key}\"\noriginGroups:\n  - origins: [\"https://a.test\"]\n\
         {keys}"
    );
    let text = format!("{text}{}\n", "#".repeat(MAX_FILE_SIZE - text.len() - 1));
    let error = Policy::from_yaml_str(&text, "keys.yaml").unwrap_err();
    let codes: Vec<Code> = error.diagnostics().iter().map(cors_policy::Diagnostic::code).collect();
    // The anchor's key `x` is unknown, so is the first alias; the others are duplicates.
    let expected = [[Code::UnknownKey; 2].as_slice(), &[Code::DuplicateKey; 17]].concat();
    assert_eq!(codes, expected);
    let path = format!("originGroups[0].{key}");
    // From the segment where the path passes 200 bytes: the key's first, or one of its own.
    let from = if key.contains('.') { String::new() } else { format!("{:?}", &key[..198]) };
    for d in &error.diagnostics()[1..] {
        assert_eq!(d.path(), path);
        let line = d.to_string();
        assert!(line.len() < 700, "{} bytes: {line}", line.len());
        assert!(line.contains(&format!(" error: originGroups[0].{from}")), "{line}");
        assert!(line.contains(" bytes): "), "{line}");
    }
    let shown = error.to_string();
    assert!(shown.len() < 19 * 700, "{} bytes", shown.len());
}

/// A key path of up to 200 bytes, as written, is written whole: the same lines as before.
#[test]
fn a_short_key_path_is_written_whole() {
    let key = "k".repeat(200 - "originGroups[0].".len());
    let text = format!("originGroups:\n  - origins: [\"https://a.test\"]\n    {key}: 1\n");
    let d = only_error(Policy::from_yaml_str(&text, "keys.yaml"));
    assert_eq!(d.code(), Code::UnknownKey);
    assert!(d.to_string().contains(&format!(" error: originGroups[0].{key}: unknown key ")), "{d}");
    let long = "k".repeat(300);
    let text = text.replace(&format!(" {key}:"), &format!(" {long}:"));
    let d = only_error(Policy::from_yaml_str(&text, "keys.yaml"));
    let shown = format!(" error: originGroups[0].{:?}… (300 bytes): unknown key ", &long[..198]);
    assert!(d.to_string().contains(&shown), "{d}");
}

/// "No cors-flex policy" lists the policies the file has: it wrote their names whole, once per
/// mention, so a 1 MiB file naming a 200 KB policy 18 times by alias gave a 3.6 MB hint. Each
/// name is now quoted (cut short when long) and listed once, at most eight of them.
#[test]
fn the_policies_a_file_has_are_named_each_once_and_cut_short() {
    let name = "p".repeat(200_000);
    let refs: String = (0..18).fold(String::new(), |mut text, i| {
        let named = if i == 0 { format!("&n \"{name}\"") } else { "*n".to_owned() };
        writeln!(text, "    - policyRef: {{name: {named}}}").unwrap();
        text
    });
    let text = format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: a}}\n\
         spec:\n  address: http://0.0.0.0:8081\n  policies:\n{refs}"
    );
    let text = format!("{text}{}\n", "#".repeat(MAX_FILE_SIZE - text.len() - 1));
    let d = only_error(Policy::from_yaml_str(&text, "policies.yaml"));
    assert_eq!(d.code(), Code::NoCorsPolicy);
    let hint = format!("the file only has {:?}… (200000 bytes)", &name[..198]);
    assert_eq!(d.hint(), Some(hint.as_str()));
    assert!(d.to_string().len() < 400, "{d}");

    let refs: String = (0..10).fold(String::new(), |mut text, i| {
        writeln!(text, "    - policyRef: {{name: p{}}}", i % 9).unwrap();
        text
    });
    let text = format!(
        "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {{name: a}}\n\
         spec:\n  address: http://0.0.0.0:8081\n  policies:\n{refs}"
    );
    let d = only_error(Policy::from_yaml_str(&text, "policies.yaml"));
    assert_eq!(
        d.hint(),
        Some(
            "the file only has \"p0\", \"p1\", \"p2\", \"p3\", \"p4\", \"p5\", \"p6\", \"p7\" and 1 \
             more"
        )
    );
}

/// Every kind of message that quotes a value cuts a long one, and a value that fits is quoted
/// whole, as before: the same messages, word for word. `{V}` is a value of `x` (of digits for
/// a max-age) in the file, `{Q}` where the message quotes it, as part of `quoted`.
#[rstest]
#[case::wrong_type("publicResource: {V}\n", "{V}", "expected a boolean, found {Q}")]
#[case::list_hint(
    "publicResource: false\noriginGroups:\n  - origins: {V}\n",
    "{V}",
    "write it as a list: [{Q}]"
)]
#[case::method(
    "publicResource: false\noriginGroups:\n  - allowedMethods:\n    - {methodName: \"G T{V}\", isAllowed: true}\n",
    "G T{V}",
    "invalid method {Q}: ' ' is not allowed in an RFC 9110 token (byte 1)"
)]
#[case::method_hint(
    "publicResource: false\noriginGroups:\n  - allowedMethods: [{V}]\n",
    "{V}",
    "write {methodName: {Q}, isAllowed: true}"
)]
#[case::header(
    "publicResource: false\noriginGroups:\n  - headers: [\"x y{V}\"]\n",
    "x y{V}",
    "invalid header name {Q}: ' ' is not allowed in an RFC 9110 token (byte 1)"
)]
#[case::max_age(
    "publicResource: false\noriginGroups:\n  - accessControlMaxAge: 1{V}\n",
    "1{V}",
    "max-age {Q} does not fit in 64 bits"
)]
#[case::origin(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test/{V}\"]\n",
    "https://a.test/{V}",
    "invalid origin pattern {Q}: path is not allowed in an origin (byte 14)"
)]
#[case::kind(
    "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: {V}\n",
    "{V}",
    "unsupported kind {Q}"
)]
fn a_quoted_value_is_cut_when_long_and_whole_otherwise(
    #[case] yaml: &str,
    #[case] quoted: &str,
    #[case] expected: &str,
) {
    let digit = if yaml.contains("MaxAge") { "9" } else { "x" };
    for length in [150, 100_000] {
        let value = digit.repeat(length);
        let text = yaml.replace("{V}", &value);
        let error = Policy::from_yaml_str(&text, "q.yaml").unwrap_err();
        let whole = quoted.replace("{V}", &value);
        let shown = if whole.len() > 198 {
            format!("{:?}… ({} bytes)", &whole[..198], whole.len())
        } else {
            format!("{whole:?}")
        };
        let expected = expected.replace("{Q}", &shown);
        let found = error
            .diagnostics()
            .iter()
            .find(|d| d.message() == expected || d.hint() == Some(&expected));
        assert!(found.is_some(), "{expected}\nnot in\n{error}");
        for line in error.to_string().lines() {
            assert!(line.len() < 600, "{} bytes: {line}", line.len());
        }
    }
}
