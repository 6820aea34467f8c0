//! C3: one test per error kind, asserting code, key path, line, column and message.

use cors_policy::{Code, Diagnostic, LoadError, Policy};
use rstest::rstest;

fn load_err(yaml: &str) -> LoadError {
    match Policy::from_yaml_str(yaml, "cors.yaml") {
        Ok(loaded) => panic!("loaded, expected an error: {:?}", loaded.policy),
        Err(error) => error,
    }
}

#[track_caller]
fn check_diagnostic(
    d: &Diagnostic,
    code: Code,
    path: &str,
    line: usize,
    column: usize,
    message: &str,
) {
    assert_eq!(d.code(), code, "{d}");
    assert!(d.is_error(), "{d}");
    assert_eq!(d.path(), path, "{d}");
    assert_eq!((d.line(), d.column()), (Some(line), Some(column)), "{d}");
    assert_eq!(d.message(), message, "{d}");
    assert_eq!(d.file(), Some("cors.yaml"));
}

/// The file must fail with exactly one error, as described.
#[track_caller]
fn check(yaml: &str, code: Code, path: &str, line: usize, column: usize, message: &str) {
    let error = load_err(yaml);
    assert_eq!(error.diagnostics().len(), 1, "{error}");
    check_diagnostic(&error.diagnostics()[0], code, path, line, column, message);
}

const GROUP: &str = "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n";

#[rstest]
#[case::unknown_top_level_key(
    "publicResource: false\nsupportCredential: true\n",
    Code::UnknownKey,
    "supportCredential",
    2,
    1,
    "unknown key \"supportCredential\""
)]
#[case::unknown_group_key(
    &format!("{GROUP}    exposeHeaders: [x-id]\n"),
    Code::UnknownKey, "originGroups[0].exposeHeaders", 4, 5, "unknown key \"exposeHeaders\""
)]
#[case::unknown_method_key(
    &format!("{GROUP}    allowedMethods:\n      - {{methodName: GET, isAllowed: true, allowed: 1}}\n"),
    Code::UnknownKey, "originGroups[0].allowedMethods[0].allowed", 5, 44, "unknown key \"allowed\""
)]
#[case::group_key_at_top_level(
    "publicResource: false\norigins: [\"https://a.test\"]\n",
    Code::UnknownKey,
    "origins",
    2,
    1,
    "unknown key \"origins\""
)]
#[case::duplicate_key(
    "publicResource: false\npublicResource: true\n",
    Code::DuplicateKey,
    "publicResource",
    2,
    1,
    "duplicate key \"publicResource\""
)]
#[case::missing_origins(
    "publicResource: false\noriginGroups:\n  - name: a\n",
    Code::MissingKey,
    "originGroups[0].origins",
    3,
    5,
    "missing key \"origins\""
)]
#[case::missing_is_allowed(
    &format!("{GROUP}    allowedMethods:\n      - methodName: GET\n"),
    Code::MissingKey, "originGroups[0].allowedMethods[0].isAllowed", 5, 9, "missing key \"isAllowed\""
)]
#[case::quoted_boolean(
    "publicResource: \"false\"\n",
    Code::WrongType,
    "publicResource",
    1,
    17,
    "expected a boolean, found string \"false\""
)]
// After a byte order mark, at the column an editor shows (F-AT).
#[case::quoted_boolean_after_a_byte_order_mark(
    "\u{feff}publicResource: \"false\"\n",
    Code::WrongType,
    "publicResource",
    1,
    17,
    "expected a boolean, found string \"false\""
)]
#[case::yes_is_not_a_boolean(
    "supportCredentials: yes\n",
    Code::WrongType,
    "supportCredentials",
    1,
    21,
    "expected a boolean, found \"yes\""
)]
#[case::origins_not_a_list(
    "publicResource: false\noriginGroups:\n  - origins: https://a.test\n",
    Code::WrongType,
    "originGroups[0].origins",
    3,
    14,
    "expected a list of strings, found \"https://a.test\""
)]
#[case::origin_not_a_string(
    "publicResource: false\noriginGroups:\n  - origins: [[\"https://a.test\"]]\n",
    Code::WrongType,
    "originGroups[0].origins[0]",
    3,
    15,
    "expected a string, found a list"
)]
#[case::group_not_a_mapping(
    "publicResource: false\noriginGroups:\n  - https://a.test\n",
    Code::WrongType,
    "originGroups[0]",
    3,
    5,
    "expected an origin group mapping (origins, allowedMethods, ...), found \"https://a.test\""
)]
#[case::method_not_a_mapping(
    &format!("{GROUP}    allowedMethods: [GET]\n"),
    Code::WrongType, "originGroups[0].allowedMethods[0]", 4, 22,
    "expected a {methodName, isAllowed} mapping, found \"GET\""
)]
#[case::null_header_name(
    &format!("{GROUP}    headers: [x-a, ~]\n"),
    Code::WrongType, "originGroups[0].headers[1]", 4, 20, "expected a string, found nothing (null)"
)]
#[case::null_method_name(
    &format!("{GROUP}    allowedMethods:\n      - {{methodName: null, isAllowed: true}}\n"),
    Code::WrongType, "originGroups[0].allowedMethods[0].methodName", 5, 22,
    "expected a string, found nothing (null)"
)]
#[case::quoted_max_age(
    &format!("{GROUP}    accessControlMaxAge: \"30\"\n"),
    Code::WrongType, "originGroups[0].accessControlMaxAge", 4, 26,
    "expected a non-negative integer number of seconds, found string \"30\""
)]
#[case::negative_max_age(
    &format!("{GROUP}    accessControlMaxAge: -1\n"),
    Code::NegativeMaxAge, "originGroups[0].accessControlMaxAge", 4, 26, "negative max-age \"-1\""
)]
#[case::fractional_max_age(
    &format!("{GROUP}    accessControlMaxAge: 2.5\n"),
    Code::NonIntegerMaxAge, "originGroups[0].accessControlMaxAge", 4, 26,
    "max-age \"2.5\" is not a whole number of seconds"
)]
// A float with a whole value is no fraction: the hint gives the integer it stands for.
#[case::exponent_max_age(
    &format!("{GROUP}    accessControlMaxAge: 1e3\n"),
    Code::NonIntegerMaxAge, "originGroups[0].accessControlMaxAge", 4, 26,
    "max-age \"1e3\" is a floating-point number, not an integer"
)]
#[case::whole_float_max_age(
    &format!("{GROUP}    accessControlMaxAge: 10.0\n"),
    Code::NonIntegerMaxAge, "originGroups[0].accessControlMaxAge", 4, 26,
    "max-age \"10.0\" is a floating-point number, not an integer"
)]
#[case::infinite_max_age(
    &format!("{GROUP}    accessControlMaxAge: .inf\n"),
    Code::NonIntegerMaxAge, "originGroups[0].accessControlMaxAge", 4, 26,
    "max-age \".inf\" is not a whole number of seconds"
)]
#[case::huge_max_age(
    &format!("{GROUP}    accessControlMaxAge: 18446744073709551616\n"),
    Code::MaxAgeTooLarge, "originGroups[0].accessControlMaxAge", 4, 26,
    "max-age \"18446744073709551616\" does not fit in 64 bits"
)]
#[case::origin_with_path(
    "publicResource: false\noriginGroups:\n  - origins:\n      - https://a.test/x\n",
    Code::InvalidOrigin,
    "originGroups[0].origins[0]",
    4,
    9,
    "invalid origin pattern \"https://a.test/x\": path is not allowed in an origin (byte 14)"
)]
#[case::invalid_method_token(
    &format!("{GROUP}    allowedMethods:\n      - {{methodName: \"GE T\", isAllowed: true}}\n"),
    Code::InvalidMethod, "originGroups[0].allowedMethods[0].methodName", 5, 22,
    "invalid method \"GE T\": ' ' is not allowed in an RFC 9110 token (byte 2)"
)]
#[case::invalid_header_token(
    &format!("{GROUP}    headers: [x-ok, \"x(bad)\"]\n"),
    Code::InvalidHeader, "originGroups[0].headers[1]", 4, 21,
    "invalid header name \"x(bad)\": '(' is not allowed in an RFC 9110 token (byte 1)"
)]
#[case::invalid_header_next_to_star(
    &format!("{GROUP}    headers: [\"*\", \"x y\"]\n"),
    Code::InvalidHeader,
    "originGroups[0].headers[1]",
    4,
    20,
    "invalid header name \"x y\": ' ' is not allowed in an RFC 9110 token (byte 1)"
)]
#[case::invalid_exposed_header_token(
    &format!("{GROUP}    exposedHeaders: [\"\"]\n"),
    Code::InvalidHeader, "originGroups[0].exposedHeaders[0]", 4, 22,
    "invalid header name \"\": empty, expected an RFC 9110 token"
)]
#[case::yaml_syntax(
    "publicResource: false\noriginGroups: [\n",
    Code::Syntax,
    "",
    3,
    1,
    "while parsing a node, did not find expected node content"
)]
// A tab indenting the line after a value is named at the tab, not where the value starts on
// the line before (F-AV).
#[case::tab_indenting_a_key_after_a_value(
    "publicResource: false\n\toriginGroups: []\n",
    Code::Syntax,
    "",
    2,
    1,
    "a tab indents this line"
)]
#[case::tab_indenting_a_key_after_a_value_with_cr_breaks(
    "publicResource: false\r\toriginGroups: []\r",
    Code::Syntax,
    "",
    2,
    1,
    "a tab indents this line"
)]
#[case::tab_after_spaces_and_blank_lines(
    "originGroups:\n  - name: shop\n\t\n  \t  origins: [\"https://a.test\"]\n",
    Code::Syntax,
    "",
    4,
    3,
    "a tab indents this line"
)]
#[case::unsupported_kind(
    "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: Service\n",
    Code::UnknownShape,
    "kind",
    2,
    7,
    "unsupported kind \"Service\""
)]
#[case::not_a_mapping(
    "cors-flex\n",
    Code::UnknownShape,
    "",
    1,
    1,
    "expected a cors-flex config mapping, a policy list, an ApiInstance or a PolicyBinding, found text of 9 characters (not shown)"
)]
#[case::no_cors_policy(
    "- policyRef: {name: rate-limiting-flex}\n",
    Code::NoCorsPolicy,
    "",
    1,
    1,
    "no cors-flex policy found"
)]
#[case::two_cors_policies(
    "- policyRef: {name: cors-flex}\n- policyRef: {name: cors-flex}\n",
    Code::SeveralCorsPolicies,
    "",
    2,
    3,
    "a second cors-flex policy"
)]
#[case::settings_under_policy_ref(
    "- policyRef:\n    name: cors-flex\n    publicResource: false\n",
    Code::UnknownKey,
    "[0].policyRef.publicResource",
    3,
    5,
    "unknown key \"publicResource\" under policyRef"
)]
#[case::empty_file(
    "# nothing here\n",
    Code::Documents,
    "",
    1,
    1,
    "the file holds no YAML document"
)]
#[case::bare_config_next_to_an_api_instance(
    "kind: ApiInstance\napiVersion: gateway.mulesoft.com/v1alpha1\nspec: {}\n---\npublicResource: false\n",
    Code::Documents,
    "",
    5,
    1,
    "a file with several documents may hold only ApiInstance and PolicyBinding documents"
)]
fn error_kind(
    #[case] yaml: &str,
    #[case] code: Code,
    #[case] path: &str,
    #[case] line: usize,
    #[case] column: usize,
    #[case] message: &str,
) {
    check(yaml, code, path, line, column, message);
}

// Tags (F-CI): `!!str` makes a scalar a string, whatever spells it, so a boolean written so is
// the same error as a quoted one.
#[rstest]
#[case::shorthand("publicResource: !!str false\n", 1, 23)]
#[case::verbatim("publicResource: !<tag:yaml.org,2002:str> false\n", 1, 42)]
#[case::tag_directive("%TAG !y! tag:yaml.org,2002:\n---\npublicResource: !y!str false\n", 3, 24)]
#[case::quoted("publicResource: \"false\"\n", 1, 17)]
fn a_boolean_tagged_str_is_a_string_in_every_spelling(
    #[case] yaml: &str,
    #[case] line: usize,
    #[case] column: usize,
) {
    let message = "expected a boolean, found string \"false\"";
    check(yaml, Code::WrongType, "publicResource", line, column, message);
    let error = load_err(yaml);
    assert_eq!(
        error.diagnostics()[0].hint(),
        Some("write it plain, without quotes or a !!str tag")
    );
}

// A quoted value is told to be written plain only when, plain, it would be what the key takes;
// any other quoted value is told what to write, or nothing.
#[rstest]
#[case::quoted_false(
    "publicResource: \"false\"\n",
    Some("write it plain, without quotes or a !!str tag")
)]
#[case::quoted_yes("publicResource: \"yes\"\n", Some("write true or false"))]
#[case::quoted_capital_true("supportCredentials: \"True\"\n", Some("write true or false"))]
#[case::quoted_max_age(&format!("{GROUP}    accessControlMaxAge: \"30\"\n"), Some("write it plain, without quotes or a !!str tag"))]
#[case::quoted_word_max_age(&format!("{GROUP}    accessControlMaxAge: \"ten\"\n"), None)]
fn a_quoted_value_is_told_to_be_unquoted_only_when_plain_it_would_do(
    #[case] yaml: &str,
    #[case] hint: Option<&str>,
) {
    let error = load_err(yaml);
    let d = &error.diagnostics()[0];
    assert_eq!((d.code(), error.diagnostics().len()), (Code::WrongType, 1), "{error}");
    assert_eq!(d.hint(), hint, "{d}");
}

// Any tag outside the core schema, and a core tag that is not its value's type, is an error at
// the tag, naming it: no tag is dropped, and none turns a value into another.
#[rstest]
#[case::local("publicResource: !foo true\n", 1, 17, "unsupported tag !foo")]
#[case::non_specific("publicResource: ! true\n", 1, 17, "unsupported tag !")]
#[case::yaml_1_1("publicResource: !!binary true\n", 1, 17, "unsupported tag !!binary")]
#[case::local_named_str(
    "originGroups:\n  - name: !str shop\n    origins: [\"https://a.test\"]\n",
    2,
    11,
    "unsupported tag !str"
)]
#[case::verbatim_local("publicResource: !<!foo> true\n", 1, 17, "unsupported tag !foo")]
#[case::local_spelled_as_core(
    "publicResource: !<!!str> false\n",
    1,
    17,
    "unsupported tag !<!!str>"
)]
#[case::core_handle_redefined(
    "%TAG !! tag:example.com,2000:\n---\npublicResource: !!str false\n",
    3,
    17,
    "unsupported tag !<tag:example.com,2000:str>"
)]
#[case::on_a_key("!foo publicResource: true\n", 1, 1, "unsupported tag !foo")]
#[case::null_on_a_boolean(
    "publicResource: !!null true\n",
    1,
    17,
    "tag !!null on \"true\", which is not null"
)]
#[case::int_on_a_boolean(
    "publicResource: !!int true\n",
    1,
    17,
    "tag !!int on \"true\", which is not an integer"
)]
#[case::int_verbatim_on_a_boolean(
    "publicResource: !<tag:yaml.org,2002:int> true\n",
    1,
    17,
    "tag !!int on \"true\", which is not an integer"
)]
#[case::float_on_an_integer(
    &format!("{GROUP}    accessControlMaxAge: !!float 30\n"),
    4, 26, "tag !!float on \"30\", which is not a float"
)]
#[case::map_on_a_list("originGroups: !!map\n  - origins: []\n", 1, 15, "tag !!map on a list")]
#[case::seq_on_a_block_mapping("!!seq\npublicResource: true\n", 1, 1, "tag !!seq on a mapping")]
#[case::str_on_a_list(
    &format!("{GROUP}    headers: !!str [x-a]\n"), 4, 14, "tag !!str on a list"
)]
fn a_tag_outside_the_core_schema_or_against_its_value_is_an_error_at_the_tag(
    #[case] yaml: &str,
    #[case] line: usize,
    #[case] column: usize,
    #[case] message: &str,
) {
    check(yaml, Code::Tag, "", line, column, message);
    // And says what to do: drop the tag, or quote the value for a string.
    let error = load_err(yaml);
    let hint = error.diagnostics()[0].hint().unwrap_or_default();
    assert!(hint.starts_with("remove the tag: ") && hint.contains("quote a value"), "{hint:?}");
}

#[test]
fn every_tag_error_is_reported_at_once() {
    let yaml = "publicResource: !!binary true\nsupportCredentials: !str x\n";
    let error = load_err(yaml);
    let found: Vec<(Code, Option<usize>, &str)> =
        error.diagnostics().iter().map(|d| (d.code(), d.line(), d.message())).collect();
    assert_eq!(
        found,
        [
            (Code::Tag, Some(1), "unsupported tag !!binary"),
            (Code::Tag, Some(2), "unsupported tag !str"),
            // The value as written without its tag: `x` is no boolean either.
            (Code::WrongType, Some(2), "expected a boolean, found \"x\""),
        ]
    );
}

/// A null where a value is wanted is said to be nothing, whatever spells it (`~`, `null`), and
/// gets no hint made of its spelling (no `[\"~\"]`), nor is taken for a name.
#[rstest]
#[case::a_policy_name(
    "- policyRef: {name: null}\n  config: {}\n",
    "cors.yaml:1:21: error: [0].policyRef.name: expected a string, found nothing (null)"
)]
#[case::a_method_entry(
    &format!("{GROUP}    allowedMethods: [~]\n"),
    "cors.yaml:4:22: error: originGroups[0].allowedMethods[0]: expected a {methodName, \
     isAllowed} mapping, found nothing (null)"
)]
#[case::a_list(
    "publicResource: false\noriginGroups:\n  - origins: ~\n",
    "cors.yaml:3:14: error: originGroups[0].origins: expected a list of strings, found nothing \
     (null)"
)]
fn a_null_is_said_to_be_nothing_without_a_hint(#[case] yaml: &str, #[case] said: &str) {
    assert_eq!(load_err(yaml).to_string(), said);
}

const INSTANCE: &str = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\n";
const BINDING: &str = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: PolicyBinding\n";

/// A key written twice is an error at every level of every C2 shape, never a silent choice of
/// one of the two: YAML readers differ on which one wins (the loader kept the first; `PyYAML` and
/// yaml-rust2 keep the last), so a reviewer's tool and the gateway could read two policies
/// (finding F-CN). The `config:` wrapper's own key was the one level that dropped its second
/// occurrence without a word.
#[rstest]
#[case::config_wrapper(
    "config:\n  publicResource: false\nconfig:\n  publicResource: true\n",
    "config",
    3,
    1
)]
#[case::config_wrapper_flow(
    "{config: {publicResource: true}, config: {publicResource: false}}\n",
    "config",
    1,
    34
)]
#[case::bare_config("publicResource: false\npublicResource: true\n", "publicResource", 2, 1)]
#[case::inside_the_config_wrapper(
    "config:\n  publicResource: false\n  publicResource: true\n",
    "publicResource",
    3,
    3
)]
#[case::group(
    &format!("{GROUP}    origins: [\"https://b.test\"]\n"), "originGroups[0].origins", 4, 5
)]
#[case::method_entry(
    &format!("{GROUP}    allowedMethods: [{{methodName: GET, isAllowed: true, isAllowed: false}}]\n"),
    "originGroups[0].allowedMethods[0].isAllowed", 4, 57
)]
#[case::policy_ref_entry(
    "- policyRef: {name: cors-flex}\n  config: {}\n  config: {publicResource: true}\n",
    "[0].config",
    3,
    3
)]
#[case::policy_ref_name(
    "- policyRef: {name: jwt, name: cors-flex}\n  config: {}\n",
    "[0].policyRef.name",
    1,
    26
)]
#[case::api_instance_kind(&format!("{INSTANCE}kind: ApiInstance\nspec: {{}}\n"), "kind", 3, 1)]
#[case::binding_config(
    &format!("{BINDING}spec:\n  targetRef: {{name: a}}\n  policyRef: {{name: cors-flex}}\n  \
              config: {{}}\n  config: {{publicResource: true}}\n"),
    "spec.config", 7, 3
)]
fn a_key_written_twice_is_an_error_at_every_level(
    #[case] yaml: &str,
    #[case] path: &str,
    #[case] line: usize,
    #[case] column: usize,
) {
    let key = path.rsplit(['.', ']']).next().unwrap_or(path);
    check(yaml, Code::DuplicateKey, path, line, column, &format!("duplicate key {key:?}"));
}

/// A max-age with a leading zero means another number to each YAML reader: 10 to the core
/// schema, which the loader follows, the octal 8 to a YAML 1.1 reader (`PyYAML`), a string to
/// `serde_yaml`. It is refused, with the number to write (it loaded as the core schema's).
#[rstest]
#[case::octal_looking("010", "10")]
#[case::padded("007", "7")]
#[case::zeros("00", "0")]
#[case::minus_zeros("-00", "0")]
#[case::plus("+010", "10")]
#[case::tagged("!!int 010", "10")]
fn a_max_age_with_a_leading_zero_is_refused(#[case] written: &str, #[case] plain: &str) {
    let error = load_err(&format!("{GROUP}    accessControlMaxAge: {written}\n"));
    let [d] = error.diagnostics() else { panic!("{error}") };
    let shown = written.trim_start_matches("!!int ");
    let column = 26 + written.len() - shown.len();
    check_diagnostic(
        d,
        Code::WrongType,
        "originGroups[0].accessControlMaxAge",
        4,
        column,
        &format!("expected a non-negative integer number of seconds, found {shown:?}"),
    );
    let hint = format!(
        "write {plain} without leading zeros: YAML 1.1 readers take a number with one for octal, \
         other readers for a string"
    );
    assert_eq!(d.hint(), Some(hint.as_str()));
}

/// A max-age written as a float with a whole value (`1e3`, as the core schema and `serde_yaml`
/// read it; a string to YAML 1.1 readers) is refused, with the integer to write: it was "not a
/// whole number of seconds", which 1000 is.
#[rstest]
#[case::exponent("1e3", "1000")]
#[case::signed_exponent("+1.5E+1", "15")]
#[case::point_zero("10.0", "10")]
#[case::zero("0.0", "0")]
#[case::minus_zero("-0.0", "0")]
// The largest written so, where every integer is a float: all its digits, no exponent.
#[case::two_to_the_53("9007199254740992.0", "9007199254740992")]
#[case::large_exponent("1e15", "1000000000000000")]
fn a_max_age_written_as_a_whole_float_says_the_integer(#[case] written: &str, #[case] plain: &str) {
    let error = load_err(&format!("{GROUP}    accessControlMaxAge: {written}\n"));
    let [d] = error.diagnostics() else { panic!("{error}") };
    check_diagnostic(
        d,
        Code::NonIntegerMaxAge,
        "originGroups[0].accessControlMaxAge",
        4,
        26,
        &format!("max-age {written:?} is a floating-point number, not an integer"),
    );
    assert_eq!(d.hint(), Some(format!("write {plain}").as_str()));
}

/// `origins: [null]` is YAML's null, not the origin `null` (M4), which must be quoted: the error
/// says how to write the origin the file most likely means.
#[rstest]
#[case::plain("null")]
#[case::tilde("~")]
#[case::capitalized("Null")]
fn a_plain_null_origin_says_to_quote_it(#[case] written: &str) {
    let yaml = format!("publicResource: false\noriginGroups:\n  - origins: [{written}]\n");
    let error = load_err(&yaml);
    let [d] = error.diagnostics() else { panic!("{error}") };
    check_diagnostic(
        d,
        Code::WrongType,
        "originGroups[0].origins[0]",
        3,
        15,
        "expected a string, found nothing (null)",
    );
    let hint = "write \"null\", quoted, for the origin null (sandboxed and file: pages)";
    assert_eq!(d.hint(), Some(hint));
}

/// A tag error is one problem among the file's others: the read goes on past it, the file is
/// walked with the tagged value as written, and every problem comes out at once, in file order
/// (C3). Before, the tag errors were listed alone.
#[test]
fn a_tag_error_is_listed_with_the_files_other_problems() {
    let yaml = concat!(
        "publicResource: !foo false\n",
        "supportCredential: true\n",
        "originGroups:\n",
        "  - origins: [\"https://a.test/x\"]\n",
        "    accessControlMaxAge: !!int true\n",
    );
    let error = load_err(yaml);
    let found: Vec<(Code, &str, Option<usize>, Option<usize>)> =
        error.diagnostics().iter().map(|d| (d.code(), d.path(), d.line(), d.column())).collect();
    assert_eq!(
        found,
        [
            (Code::Tag, "", Some(1), Some(17)),
            (Code::UnknownKey, "supportCredential", Some(2), Some(1)),
            (Code::InvalidOrigin, "originGroups[0].origins[0]", Some(4), Some(15)),
            (Code::Tag, "", Some(5), Some(26)),
            (Code::WrongType, "originGroups[0].accessControlMaxAge", Some(5), Some(32)),
        ],
        "{error}"
    );
}

/// The loader's one exception: a read that cannot go on stops there, with the tag errors found
/// before it.
#[test]
fn a_tag_error_before_a_syntax_error_is_listed_with_it() {
    let error = load_err("publicResource: !foo false\nsupportCredential: [\n");
    let codes: Vec<Code> = error.diagnostics().iter().map(Diagnostic::code).collect();
    assert_eq!(codes, [Code::Tag, Code::Syntax], "{error}");
}

#[rstest]
#[case::typo("exposeHeaders", "did you mean \"exposedHeaders\"?")]
#[case::case_only("AccessControlMaxAge", "did you mean \"accessControlMaxAge\"?")]
#[case::misplaced("isAllowed", "\"isAllowed\" belongs inside an allowedMethods entry")]
#[case::merge_key("<<", "YAML merge keys are not supported")]
fn unknown_key_hint(#[case] key: &str, #[case] hint: &str) {
    let error = load_err(&format!("{GROUP}    \"{key}\": 1\n"));
    assert_eq!(error.diagnostics()[0].hint(), Some(hint));
}

#[test]
fn invalid_origin_keeps_cors_origin_reason_and_hint() {
    let error =
        load_err("publicResource: false\noriginGroups:\n  - origins: [\"https://u@a.test\"]\n");
    let d = &error.diagnostics()[0];
    assert_eq!(d.code(), Code::InvalidOrigin);
    let origin_error = cors_origin::OriginPattern::parse("https://u@a.test").unwrap_err();
    assert!(d.message().starts_with("invalid origin pattern \"https://u@a.test\": "), "{d}");
    // cors-origin's message as it is (it carries no hint), and its hint in the hint's place.
    assert_eq!(d.message(), origin_error.to_string());
    assert_eq!(d.hint(), origin_error.hint());
    assert!(d.hint().is_some());
}

const INDENT_WITH_SPACES: &str = "indent with spaces: YAML does not allow tabs there";
const SPACE_AFTER_COLON: &str = "use a space after ':', not a tab";

/// The scanner's errors about a tab say what to write instead: both about a tab in the
/// indentation (F-AV), and the one about a tab, and no space, after a mapping's `:`, placed
/// where the reader places it, after the tab.
#[rstest]
#[case::indenting_after_a_value(
    "publicResource: false\n\toriginGroups: []\n",
    "cors.yaml:2:1: error: a tab indents this line",
    INDENT_WITH_SPACES
)]
#[case::indenting_in_a_block(
    "originGroups:\n\t- origins: []\n",
    "cors.yaml:2:2: error: tabs disallowed within this context (block indentation)",
    INDENT_WITH_SPACES
)]
#[case::after_a_colon(
    "publicResource:\ttrue\n",
    "cors.yaml:1:17: error: ':' must be followed by a valid YAML whitespace",
    SPACE_AFTER_COLON
)]
#[case::two_after_a_colon(
    "publicResource:\t\tfalse\n",
    "cors.yaml:1:18: error: ':' must be followed by a valid YAML whitespace",
    SPACE_AFTER_COLON
)]
#[case::after_a_nested_colon(
    "publicResource: false\noriginGroups:\n  - origins: [\"https://a.test\"]\n    accessControlMaxAge:\t600\n",
    "cors.yaml:4:26: error: ':' must be followed by a valid YAML whitespace",
    SPACE_AFTER_COLON
)]
fn a_tab_says_what_to_write_instead(#[case] yaml: &str, #[case] start: &str, #[case] hint: &str) {
    assert_eq!(load_err(yaml).to_string(), format!("{start}, {hint}"));
}

#[test]
fn display_is_file_line_column_severity_path_message_hint() {
    let error = load_err(&format!("{GROUP}    exposeHeaders: [x-id]\n"));
    assert_eq!(
        error.to_string(),
        "cors.yaml:4:5: error: originGroups[0].exposeHeaders: unknown key \"exposeHeaders\", \
         did you mean \"exposedHeaders\"?"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let yaml = "publicResource: \"false\"\n\
                originGroups:\n\
                \x20 - origins: [\"https://a.test/x\", 7, \"https://b.test:99999\"]\n\
                \x20   accessControlMaxAge: -5\n\
                \x20   headers: [\"a b\"]\n\
                \x20 - origins: []\n\
                \x20   allowedMethods: [{methodName: GET, isAllowed: maybe}]\n";
    let error = load_err(yaml);
    let found: Vec<(Code, &str, Option<usize>)> =
        error.diagnostics().iter().map(|d| (d.code(), d.path(), d.line())).collect();
    assert_eq!(
        found,
        [
            (Code::WrongType, "publicResource", Some(1)),
            (Code::InvalidOrigin, "originGroups[0].origins[0]", Some(3)),
            (Code::InvalidOrigin, "originGroups[0].origins[1]", Some(3)),
            (Code::InvalidOrigin, "originGroups[0].origins[2]", Some(3)),
            (Code::NegativeMaxAge, "originGroups[0].accessControlMaxAge", Some(4)),
            (Code::InvalidHeader, "originGroups[0].headers[0]", Some(5)),
            (Code::WrongType, "originGroups[1].allowedMethods[0].isAllowed", Some(7)),
        ]
    );
    assert_eq!(error.to_string().lines().count(), 7);
}

#[test]
fn a_wrongly_typed_entry_keeps_later_indices() {
    let yaml = "publicResource: false\noriginGroups:\n  - origins: [{}, \"https://a.test/x\"]\n";
    let error = load_err(yaml);
    let paths: Vec<&str> = error.diagnostics().iter().map(Diagnostic::path).collect();
    assert_eq!(paths, ["originGroups[0].origins[0]", "originGroups[0].origins[1]"]);
}

#[test]
fn from_config_errors_have_paths_but_no_positions() {
    let config = cors_policy::CorsConfig {
        public_resource: Some(false),
        support_credentials: None,
        origin_groups: Some(vec![cors_policy::OriginGroupConfig {
            origins: vec!["https://a.test".into(), "https://b.test/path".into()],
            ..Default::default()
        }]),
    };
    let error = Policy::from_config(&config).unwrap_err();
    let d = &error.diagnostics()[0];
    assert_eq!(
        (d.code(), d.path(), d.line(), d.file()),
        (Code::InvalidOrigin, "originGroups[0].origins[1]", None, None)
    );
    assert!(d.to_string().starts_with("error: originGroups[0].origins[1]: invalid origin"), "{d}");
}

#[test]
fn a_wrongly_typed_or_missing_method_name_is_reported_once() {
    let yaml = format!(
        "{GROUP}    allowedMethods:\n      - {{methodName: [GET], isAllowed: true}}\n      - {{isAllowed: true}}\n      - DELETE\n"
    );
    let error = load_err(&yaml);
    let found: Vec<(Code, &str)> =
        error.diagnostics().iter().map(|d| (d.code(), d.path())).collect();
    assert_eq!(
        found,
        [
            (Code::WrongType, "originGroups[0].allowedMethods[0].methodName"),
            (Code::MissingKey, "originGroups[0].allowedMethods[1].methodName"),
            (Code::WrongType, "originGroups[0].allowedMethods[2]"),
        ]
    );
}

#[test]
fn value_errors_inside_local_mode_resources_point_at_their_node() {
    let yaml = "apiVersion: gateway.mulesoft.com/v1alpha1\nkind: ApiInstance\nmetadata: {name: a}\n\
                spec:\n  address: http://0.0.0.0:8080\n  policies:\n    - policyRef: {name: cors-flex}\n\
                \x20     config:\n        publicResource: false\n        originGroups:\n\
                \x20         - origins: [\"https://a.test\", \"ftp://\"]\n            headers: [\"a b\"]\n";
    let error = load_err(yaml);
    let found: Vec<(Code, &str, Option<usize>, Option<usize>)> =
        error.diagnostics().iter().map(|d| (d.code(), d.path(), d.line(), d.column())).collect();
    assert_eq!(
        found,
        [
            (Code::InvalidOrigin, "originGroups[0].origins[1]", Some(11), Some(41)),
            (Code::InvalidHeader, "originGroups[0].headers[0]", Some(12), Some(23)),
        ]
    );
}

/// What `main` prints for a load error it returns with `?` (its `Debug`) is the `Display`
/// lines, with file, line and column; `{:#?}` still gives the fields.
#[test]
fn a_load_errors_debug_is_its_lines_and_the_alternate_form_its_fields() {
    let error = load_err("publicResource: false\noriginGroups:\n  - origins: [\"nope\"]\n");
    let lines = error.to_string();
    assert!(lines.starts_with("cors.yaml:3:"), "{lines}");
    assert_eq!(format!("{error:?}"), lines);
    let fields = format!("{error:#?}");
    assert!(fields.starts_with("LoadError {\n    diagnostics: ["), "{fields}");
}
