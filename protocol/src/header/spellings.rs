//! JSON headers a Java broker reads as UPDATE_AND_CREATE_TOPIC (code 17) although an exact-key
//! reader does not, or not unambiguously: loose spellings of header fields, repeated fields,
//! repeated ext keys. Each is a test input for anything that judges headers before a broker
//! executes them; [`Header::decode_guarded`](super::Header::decode_guarded) refuses them all.
//!
//! Every entry, executed by a Java broker (fastjson 1.2.x), would create the topic
//! [`HOSTILE_TOPIC_PREFIX`]`<name>` (4.9.7 and 5.1.4 were observed creating topics from the
//! `CODE`, `c_o-de` and repeated-`code` forms). The headers carry no signature, so a guard in
//! front of the broker must stop every one: send each as a frame with an empty body, then
//! list the broker's topics and assert none starts with [`HOSTILE_TOPIC_PREFIX`].

/// Every topic named in [`HOSTILE_SPELLINGS`] starts with this.
pub const HOSTILE_TOPIC_PREFIX: &str = "rmq_hostile_";

/// The ext fields of a CreateTopicRequestHeader for topic `rmq_hostile_<name>`, and the
/// `"extFields":{…}` member holding them.
macro_rules! ext_map {
    ($topic:expr) => {
        ext_map!("", $topic)
    };
    // `$first`: entries put before the usual ones (each with its trailing comma).
    ($first:expr, $topic:expr) => {
        concat!(
            "{",
            $first,
            r#""defaultTopic":"TBW102","order":"false","perm":"6","readQueueNums":"8","topic":"rmq_hostile_"#,
            $topic,
            r#"","topicFilterType":"SINGLE_TAG","topicSysFlag":"0","writeQueueNums":"8"}"#
        )
    };
}

/// A whole header: `$head` (keys before extFields, with their trailing comma), the ext key
/// spelled `$ext`, and `$tail` (what follows the ext map, starting with a comma).
macro_rules! hostile {
    ($name:literal, $head:literal, $ext:literal, $tail:expr) => {
        hostile!($name, $head, $ext, $tail, "")
    };
    ($name:literal, $head:literal, $ext:literal, $tail:expr, $first:expr) => {
        ($name, concat!("{", $head, $ext, ":", ext_map!($first, $name), $tail, "}").as_bytes())
    };
}

/// `,"flag":0,…,"version":395}` without the braces: the canonical rest of a Java request.
macro_rules! rest {
    () => {
        r#","flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":395"#
    };
}

/// `(name, header)`: hostile JSON headers for code 17, each creating topic
/// `rmq_hostile_<name>` if a Java broker executed it. Names are unique and valid topic-name
/// characters. Sources: observed broker behaviour (`CODE`, `c_o-de`, repeated `code` with the
/// first or the last copy winning, `FLAG` then `flag`) and fastjson's documented matching rules
/// (case, `_`/`-`, escapes, quotes, every header property).
pub const HOSTILE_SPELLINGS: &[(&str, &[u8])] = &[
    hostile!("code_upper", r#""CODE":17,"#, r#""extFields""#, rest!()),
    hostile!("code_title", r#""Code":17,"#, r#""extFields""#, rest!()),
    hostile!("code_mixed", r#""cOdE":17,"#, r#""extFields""#, rest!()),
    hostile!("code_underscore_dash", r#""c_o-de":17,"#, r#""extFields""#, rest!()),
    hostile!("code_dashes", r#""-code-":17,"#, r#""extFields""#, rest!()),
    hostile!("code_escaped", r#""\u0063ode":17,"#, r#""extFields""#, rest!()),
    hostile!("code_single_quoted", r#"'code':17,"#, r#""extFields""#, rest!()),
    hostile!("code_bare", r#"code:17,"#, r#""extFields""#, rest!()),
    hostile!("code_string_upper", r#""CODE":"17","#, r#""extFields""#, rest!()),
    // Observed: last copy wins on fastjson's fast path …
    hostile!("code_repeated_last", r#""code":10,"code":17,"#, r#""extFields""#, rest!()),
    // … and the first once an unexpected key has sent it to the generic loop.
    hostile!("code_repeated_first", r#""x":0,"code":17,"code":10,"#, r#""extFields""#, rest!()),
    hostile!("code_alias_then_exact", r#""C_ODE":17,"code":10,"#, r#""extFields""#, rest!()),
    // Observed: the first spelling of flag wins, so the frame is a request (flag 0).
    hostile!(
        "flag_upper_then_flag",
        r#""code":17,"#,
        r#""extFields""#,
        r#","FLAG":0,"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":395"#
    ),
    hostile!("ext_lower", r#""code":17,"#, r#""extfields""#, rest!()),
    hostile!("ext_underscore", r#""code":17,"#, r#""ext_Fields""#, rest!()),
    hostile!("ext_upper", r#""code":17,"#, r#""EXTFIELDS""#, rest!()),
    hostile!("ext_escaped", r#""code":17,"#, r#""\u0065xtFields""#, rest!()),
    hostile!("ext_repeated", r#""code":17,"extFields":{},"#, r#""extFields""#, rest!()),
    // Java's HashMap keeps the last value: the topic below, not this first one.
    hostile!(
        "ext_key_repeated",
        r#""code":17,"#,
        r#""extFields""#,
        rest!(),
        r#""topic":"rmq_hostile_ext_key_repeated_first","#
    ),
    hostile!(
        "ext_key_repeated_escaped",
        r#""code":17,"#,
        r#""extFields""#,
        rest!(),
        r#""topic":"rmq_hostile_ext_key_repeated_escaped_first","#
    ),
    hostile!("language_upper", r#""code":17,"#, r#""extFields""#, concat!(r#","LANGUAGE":"JAVA""#, rest!())),
    hostile!("opaque_upper", r#""code":17,"OPAQUE":2,"#, r#""extFields""#, rest!()),
    hostile!("version_upper", r#""code":17,"VERSION":395,"#, r#""extFields""#, rest!()),
    hostile!("remark_upper", r#""code":17,"REMARK":"x","#, r#""extFields""#, rest!()),
    hostile!(
        "serialize_type_snake",
        r#""code":17,"SERIALIZE_TYPE_CURRENT_RPC":"JSON","#,
        r#""extFields""#,
        r#","flag":0,"language":"JAVA","opaque":1,"version":395"#
    ),
    hostile!("serialize_type_lower", r#""code":17,"serializetypecurrentrpc":"JSON","#, r#""extFields""#, rest!()),
];
