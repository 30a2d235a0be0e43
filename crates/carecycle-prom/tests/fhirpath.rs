//! The FHIRPath evaluator against the results the FHIRPath specification
//! (N1, http://hl7.org/fhirpath/N1/) gives, feature by feature: each test
//! names the section its expected values come from.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carecycle_prom::fhirpath::{Expression, FhirPathError, Item, Node, Variables};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The result as JSON for comparison: numbers, text, booleans, elements.
fn run_with(
    expr: &str,
    resource: &Value,
    vars: &[(&str, Value)],
) -> Result<Vec<Value>, FhirPathError> {
    let parsed = Expression::parse(expr)?;
    let values: Vec<(String, Vec<Item<'_>>)> = vars
        .iter()
        .map(|(n, v)| (n.to_string(), vec![Item::Node(Node::root(v))]))
        .collect();
    let mut env = Variables { values };
    env.values
        .push(("resource".into(), vec![Item::Node(Node::root(resource))]));
    let out = parsed.evaluate(Node::root(resource), &env)?;
    Ok(out
        .into_iter()
        .map(|i| match i.primitive() {
            Item::Boolean(b) => json!(b),
            Item::Integer(n) => json!(n),
            Item::Decimal(d) => json!(d),
            Item::String(s) | Item::Date(s) | Item::DateTime(s) | Item::Time(s) => json!(s),
            Item::Quantity(v, u) => json!(format!("{v} '{u}'")),
            Item::Node(n) => n.value.clone(),
        })
        .collect())
}

fn run(expr: &str) -> Vec<Value> {
    run_on(expr, &json!({}))
}

fn run_on(expr: &str, resource: &Value) -> Vec<Value> {
    run_with(expr, resource, &[]).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn patient() -> Value {
    json!({"resourceType": "Patient", "id": "example", "active": true,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"]},
            {"use": "maiden", "family": "Windsor", "given": ["Peter", "James"]}],
        "birthDate": "1974-12-25"})
}

/// A PHQ-9–like response: coded answers whose weights live in the form.
fn response() -> Value {
    json!({"resourceType": "QuestionnaireResponse", "status": "in-progress",
        "item": [
            {"linkId": "g", "item": [
                {"linkId": "q1", "answer": [{"valueCoding": {"code": "a1", "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 1}]}}]},
                {"linkId": "q2", "answer": [{"valueCoding": {"code": "a3", "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 3}]}}]}]},
            {"linkId": "age", "answer": [{"valueInteger": 70}]},
            {"linkId": "weight", "answer": [{"valueQuantity": {"value": 80, "unit": "kg", "code": "kg"}}]},
            {"linkId": "name", "answer": [{"valueString": "Ana"}]}]})
}

#[test]
fn path_selection_flattens_collections_and_a_type_name_selects_the_resource() {
    // §3 Path selection; §4.1: a leading type name matches the context resource.
    let p = patient();
    assert_eq!(
        run_on("Patient.name.given", &p),
        [
            json!("Peter"),
            json!("James"),
            json!("Jim"),
            json!("Peter"),
            json!("James")
        ]
    );
    assert_eq!(run_on("name.given", &p).len(), 5);
    assert_eq!(
        run_on("name.family", &p),
        [json!("Chalmers"), json!("Windsor")]
    );
    assert_eq!(run_on("name.nothing", &p), Vec::<Value>::new());
    // §3.2 Indexer: zero-based.
    assert_eq!(run_on("name[1].given", &p), [json!("Jim")]);
    assert_eq!(run_on("name[5]", &p), Vec::<Value>::new());
}

#[test]
fn literals_and_lexical_rules() {
    // §4.1 Literals, §8 lexical elements (comments, delimited identifiers, escapes).
    assert_eq!(run("true"), [json!(true)]);
    assert_eq!(run("'it\\'s'"), [json!("it's")]);
    assert_eq!(run("'\\u0041'"), [json!("A")]);
    assert_eq!(run("1.50"), [json!(1.5)]);
    assert_eq!(run("@2019-02-03"), [json!("2019-02-03")]);
    assert_eq!(run("@T14:30"), [json!("14:30")]);
    assert_eq!(run("4 'mg'"), [json!("4 'mg'")]);
    assert_eq!(run("{}"), Vec::<Value>::new());
    assert_eq!(run("1 + /* inline */ 2 // end"), [json!(3)]);
    assert_eq!(run_on("`name`.count()", &patient()), [json!(3)]);
}

#[test]
fn existence_functions() {
    // §5.1 Existence.
    let p = patient();
    assert_eq!(run_on("name.exists()", &p), [json!(true)]);
    assert_eq!(run_on("name.exists(use = 'nickname')", &p), [json!(false)]);
    assert_eq!(run_on("telecom.empty()", &p), [json!(true)]);
    assert_eq!(run_on("name.count()", &p), [json!(3)]);
    assert_eq!(run_on("name.all(given.exists())", &p), [json!(true)]);
    assert_eq!(run_on("name.all(family.exists())", &p), [json!(false)]);
    assert_eq!(run("(true | false).anyTrue()"), [json!(true)]);
    assert_eq!(run("(true | false).allTrue()"), [json!(false)]);
    assert_eq!(
        run("(1 | 2 | 2).count()"),
        [json!(2)],
        "| removes duplicates (§6.4.1)"
    );
    assert_eq!(
        run("(1).combine(1).count()"),
        [json!(2)],
        "combine keeps them (§5.4.2)"
    );
    assert_eq!(
        run("(1).combine(1).combine(2).distinct().count()"),
        [json!(2)]
    );
    assert_eq!(run("(1).combine(1).isDistinct()"), [json!(false)]);
}

#[test]
fn filtering_projection_and_subsetting() {
    // §5.2 where/select/repeat/ofType, §5.3 subsetting.
    let p = patient();
    assert_eq!(
        run_on("name.where(use = 'official').given.first()", &p),
        [json!("Peter")]
    );
    assert_eq!(
        run_on("name.select(given.first())", &p),
        [json!("Peter"), json!("Jim"), json!("Peter")]
    );
    assert_eq!(run_on("name.given.last()", &p), [json!("James")]);
    assert_eq!(run_on("name.given.tail().count()", &p), [json!(4)]);
    assert_eq!(
        run_on("name.given.skip(3)", &p),
        [json!("Peter"), json!("James")]
    );
    assert_eq!(
        run_on("name.given.take(2)", &p),
        [json!("Peter"), json!("James")]
    );
    assert_eq!(run_on("name.where($index = 1).given", &p), [json!("Jim")]);
    assert!(
        run_with("name.single()", &p, &[]).is_err(),
        "single() of 3 is an error"
    );
    let r = response();
    // ofType on choice elements (value[x]).
    assert_eq!(
        run_on(
            "%resource.repeat(item).answer.value.ofType(Coding).count()",
            &r
        ),
        [json!(2)]
    );
    assert_eq!(
        run_on("%resource.repeat(item).answer.value.ofType(integer)", &r),
        [json!(70)]
    );
    assert_eq!(
        run_on(
            "%resource.repeat(item).answer.value.ofType(Quantity).value",
            &r
        ),
        [json!(80)]
    );
}

#[test]
fn tree_navigation_reaches_nested_items() {
    // §5.8 children/descendants, §5.2.3 repeat.
    let r = response();
    assert_eq!(
        run_on("item.count()", &r),
        [json!(4)],
        "item is the top level only"
    );
    assert_eq!(run_on("repeat(item).count()", &r), [json!(6)]);
    assert_eq!(
        run_on("repeat(item).linkId", &r),
        [
            json!("g"),
            json!("age"),
            json!("weight"),
            json!("name"),
            json!("q1"),
            json!("q2")
        ]
    );
    assert_eq!(
        run_on("descendants().where(linkId = 'q2').answer.value.code", &r),
        [json!("a3")]
    );
    assert_eq!(run_on("item.first().children().count()", &r), [json!(3)]);
}

#[test]
fn equality_equivalence_and_comparison() {
    // §6.1 Equality, §6.2 Comparison.
    assert_eq!(run("1 = 1.0"), [json!(true)]);
    assert_eq!(run("{} = 1"), Vec::<Value>::new());
    assert_eq!(run("(1 | 2) = (1 | 2)"), [json!(true)]);
    assert_eq!(
        run("(1 | 2) = (2 | 1)"),
        [json!(false)],
        "= compares in order"
    );
    assert_eq!(run("(1 | 2) ~ (2 | 1)"), [json!(true)], "~ ignores order");
    assert_eq!(run("'a' != 'b'"), [json!(true)]);
    assert_eq!(run("'Abc  d' ~ 'abc d'"), [json!(true)]);
    assert_eq!(run("{} ~ {}"), [json!(true)]);
    assert_eq!(run("@2012-04-15 = @2012-04-15"), [json!(true)]);
    assert_eq!(
        run("@2012-04 = @2012-04-15"),
        Vec::<Value>::new(),
        "different precision"
    );
    assert_eq!(run("@2018-03-01 > @2018-01-01"), [json!(true)]);
    assert_eq!(run("10 > 5.5"), [json!(true)]);
    assert_eq!(run("'abc' < 'abd'"), [json!(true)]);
    assert_eq!(run("5 'mg' = 5 'mg'"), [json!(true)]);
    assert_eq!(run("{} > 1"), Vec::<Value>::new());
    assert!(run_with("1 > 'a'", &json!({}), &[]).is_err());
    // A date held as text in the resource against a date literal.
    assert_eq!(run_on("birthDate < @2000-01-01", &patient()), [json!(true)]);
}

#[test]
fn three_valued_boolean_logic() {
    // §6.5 truth tables, with empty as unknown.
    assert_eq!(run("true and {}"), Vec::<Value>::new());
    assert_eq!(run("false and {}"), [json!(false)]);
    assert_eq!(run("true or {}"), [json!(true)]);
    assert_eq!(run("false or {}"), Vec::<Value>::new());
    assert_eq!(run("true xor true"), [json!(false)]);
    assert_eq!(run("true xor {}"), Vec::<Value>::new());
    assert_eq!(run("false implies {}"), [json!(true)]);
    assert_eq!(run("{} implies true"), [json!(true)]);
    assert_eq!(run("true implies {}"), Vec::<Value>::new());
    assert_eq!(run("true.not()"), [json!(false)]);
    assert_eq!(run("{}.not()"), Vec::<Value>::new());
    // Precedence (§6.9): and binds tighter than or; = tighter than and.
    assert_eq!(run("true or false and false"), [json!(true)]);
    assert_eq!(run("1 = 1 and 2 = 2"), [json!(true)]);
}

#[test]
fn arithmetic_and_string_concatenation() {
    // §6.6 Math operators and their precedence (§6.9).
    assert_eq!(run("1 + 2 * 3"), [json!(7)]);
    assert_eq!(run("(1 + 2) * 3"), [json!(9)]);
    assert_eq!(run("7 / 2"), [json!(3.5)], "/ always gives a decimal");
    assert_eq!(run("7 div 2"), [json!(3)]);
    assert_eq!(run("-5 div 2"), [json!(-2)], "div truncates");
    assert_eq!(run("7 mod 2"), [json!(1)]);
    assert_eq!(
        run("(1 / 0).empty()"),
        [json!(true)],
        "dividing by zero gives empty"
    );
    assert_eq!(run("5 - 3 - 1"), [json!(1)], "left-associative");
    assert_eq!(run("2.5 * 2"), [json!(5.0)]);
    assert_eq!(
        run("0.1 + 0.2 = 0.3"),
        [json!(true)],
        "decimal, not binary, arithmetic"
    );
    assert_eq!(run("1 + {}"), Vec::<Value>::new());
    assert_eq!(run("'ABC' + 'DEF'"), [json!("ABCDEF")]);
    assert_eq!(run("'ABC' + {}"), Vec::<Value>::new());
    assert_eq!(
        run("'ABC' & {} & 'DEF'"),
        [json!("ABCDEF")],
        "& treats empty as ''"
    );
    assert_eq!(run("'n=' & 3"), [json!("n=3")]);
    assert!(
        run_with("(1 | 2) + 1", &json!({}), &[]).is_err(),
        "singleton required (§4.5)"
    );
    assert!(
        run_with("9223372036854775807 + 1", &json!({}), &[])
            .unwrap()
            .is_empty(),
        "overflow gives empty, not a panic"
    );
}

#[test]
fn types_and_membership() {
    // §6.3 Types, §6.4 Collections (in/contains).
    assert_eq!(run("1 is Integer"), [json!(true)]);
    assert_eq!(run("1 is System.Decimal"), [json!(false)]);
    assert_eq!(run("1.0 is Decimal"), [json!(true)]);
    assert_eq!(run("'a' as String"), [json!("a")]);
    assert_eq!(run("1 as String"), Vec::<Value>::new());
    assert_eq!(run("'a' in ('a' | 'b')"), [json!(true)]);
    assert_eq!(run("('a' | 'b') contains 'c'"), [json!(false)]);
    assert_eq!(run("{} in ('a' | 'b')"), Vec::<Value>::new());
    let r = response();
    assert_eq!(
        run_on("item.where(linkId = 'age').answer.value is integer", &r),
        [json!(true)]
    );
}

#[test]
fn conversion_and_iif() {
    // §5.5 Conversion, §5.5.1 iif.
    assert_eq!(run("iif(true, 'a', 'b')"), [json!("a")]);
    assert_eq!(run("iif({}, 'a', 'b')"), [json!("b")]);
    assert_eq!(run("iif(false, 'a')"), Vec::<Value>::new());
    assert_eq!(run("'12'.toInteger() + 1"), [json!(13)]);
    assert_eq!(run("'1.5'.toDecimal()"), [json!(1.5)]);
    assert_eq!(run("'x'.toInteger()"), Vec::<Value>::new());
    assert_eq!(run("'yes'.toBoolean()"), [json!(true)]);
    assert_eq!(run("'x'.convertsToInteger()"), [json!(false)]);
    assert_eq!(run("12.toString()"), [json!("12")]);
}

#[test]
fn string_functions() {
    // §5.6 String manipulation.
    assert_eq!(run("'abcdefg'.indexOf('bc')"), [json!(1)]);
    assert_eq!(run("'abcdefg'.indexOf('x')"), [json!(-1)]);
    assert_eq!(run("'abcdefg'.substring(3)"), [json!("defg")]);
    assert_eq!(run("'abcdefg'.substring(1, 2)"), [json!("bc")]);
    assert_eq!(run("'abcdefg'.substring(7, 1)"), Vec::<Value>::new());
    assert_eq!(run("'abcdefg'.startsWith('abc')"), [json!(true)]);
    assert_eq!(run("'abcdefg'.endsWith('efg')"), [json!(true)]);
    assert_eq!(run("'abc'.contains('b')"), [json!(true)]);
    assert_eq!(run("'AbC'.upper() & 'AbC'.lower()"), [json!("ABCabc")]);
    assert_eq!(run("'abcdefg'.replace('cde', '123')"), [json!("ab123fg")]);
    assert_eq!(run("'abc'.replace('', 'x')"), [json!("xaxbxcx")]);
    assert_eq!(run("'ñandú'.length()"), [json!(5)], "characters, not bytes");
    assert_eq!(run("'a,b'.split(',').join('|')"), [json!("a|b")]);
    assert_eq!(run("'  a '.trim()"), [json!("a")]);
}

#[test]
fn math_functions() {
    // §5.7 Math.
    assert_eq!(run("(-5).abs()"), [json!(5)]);
    assert_eq!(run("1.1.ceiling()"), [json!(2)]);
    assert_eq!(run("(-1.1).floor()"), [json!(-2)]);
    assert_eq!(run("1.23456.round(3)"), [json!(1.235)]);
    assert_eq!(run("2.5.round()"), [json!(3.0)]);
    assert_eq!(run("81.sqrt()"), [json!(9.0)]);
    assert_eq!(run("2.power(3)"), [json!(8)]);
    assert_eq!(run("2.5.power(2)"), [json!(6.25)]);
    assert_eq!(run("(-1).sqrt()"), Vec::<Value>::new());
    assert_eq!(run("100.log(10)"), [json!(2.0)]);
    assert_eq!(run("2.9.truncate()"), [json!(2)]);
}

#[test]
fn aggregates() {
    // §7 aggregate with $total; sum/min/max/avg (FHIRPath 3.0 STU aggregates).
    assert_eq!(run("(1 | 2 | 3).aggregate($this + $total, 0)"), [json!(6)]);
    assert_eq!(
        run(
            "(1 | 2 | 3).aggregate(iif($total.empty(), $this, iif($this > $total, $this, $total)))"
        ),
        [json!(3)]
    );
    assert_eq!(run("(1 | 2 | 3).sum()"), [json!(6)]);
    assert_eq!(run("(1.5 | 2).sum()"), [json!(3.5)]);
    assert_eq!(run("{}.sum()"), [json!(0)], "the sum of nothing is 0");
    assert_eq!(run("(4 | 1 | 7).min()"), [json!(1)]);
    assert_eq!(run("(4 | 1 | 7).max()"), [json!(7)]);
    assert_eq!(run("(1 | 2).avg()"), [json!(1.5)]);
}

#[test]
fn sdc_variables_context_and_answers() {
    // SDC "Expressions": %resource, %context, named variables, item answers.
    let r = response();
    let ctx = r["item"][0].clone();
    assert_eq!(
        run_on("%resource.item.where(linkId='age').answer.value", &r),
        [json!(70)]
    );
    assert_eq!(
        run_with("%context.item.count()", &r, &[("context", ctx)]).unwrap(),
        [json!(2)]
    );
    let threshold = json!(65);
    assert_eq!(
        run_with(
            "%resource.item.where(linkId='age').answer.value >= %threshold",
            &r,
            &[("threshold", threshold)]
        )
        .unwrap(),
        [json!(true)]
    );
    assert_eq!(
        run_with("%`missing`", &r, &[]),
        Err(FhirPathError::UnknownVariable("missing".into()))
    );
    // ordinal()/weight() on codings that carry their weight.
    assert_eq!(
        run_on("%resource.repeat(item).answer.value.ordinal().sum()", &r),
        [json!(4.0)]
    );
    assert_eq!(
        run_on("%resource.repeat(item).answer.value.weight()", &r),
        [json!(1.0), json!(3.0)]
    );
    // FHIR: extension(url).
    assert_eq!(
        run_on(
            "repeat(item).answer.value.extension('http://hl7.org/fhir/StructureDefinition/itemWeight').value",
            &r
        ),
        [json!(1.0)],
        "valueDecimal is a decimal"
    );
    // Quantity answers: arithmetic on their value (a BMI).
    assert_eq!(
        run_on(
            "(%resource.item.where(linkId='weight').answer.value.value / (1.6 * 1.6)).round(1)",
            &r
        ),
        [json!(31.3)]
    );
    assert_eq!(
        run_on(
            "'Hello ' & %resource.item.where(linkId='name').answer.value",
            &r
        ),
        [json!("Hello Ana")]
    );
}

#[test]
fn errors_are_values_not_panics() {
    for (expr, what) in [
        ("1 +", "syntax"),
        ("'open", "syntax"),
        ("foo(", "syntax"),
        ("a..b", "syntax"),
        ("name.frobnicate()", "unknown function"),
        ("name.matches('x')", "unsupported"),
        ("today()", "unsupported"),
        ("$that", "syntax"),
    ] {
        assert!(Expression::parse(expr).is_err(), "{expr}: {what}");
    }
    assert!(matches!(
        Expression::parse("name.matches('x')"),
        Err(FhirPathError::Unsupported(_))
    ));
    let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    assert!(matches!(
        Expression::parse(&deep),
        Err(FhirPathError::Limit(_))
    ));
    let long = "1 + ".repeat(3000) + "1";
    assert!(matches!(
        Expression::parse(&long),
        Err(FhirPathError::Limit(_))
    ));
    // Work is bounded: a collection squared many times stops with an error.
    let wide = json!({"a": (0..200).collect::<Vec<_>>()});
    let r = run_with(
        "a.select(%resource.a.select(%resource.a)).count()",
        &wide,
        &[],
    );
    assert!(matches!(r, Err(FhirPathError::Limit(_))), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
    /// Arbitrary token soup never panics the parser or the evaluator.
    #[test]
    fn arbitrary_expressions_never_panic(parts in proptest::collection::vec(prop::sample::select(vec![
        "item", ".", "where(", ")", "linkId", "=", "'q1'", "answer", "value", "+", "-", "*", "/", "div",
        "mod", "1", "2.5", "(", "[", "]", "0", "and", "or", "not()", "%resource", "%context", "$this",
        "sum()", "count()", "iif(", ",", "repeat(item)", "descendants()", "ordinal()", "&", "|", "{}",
        "@2020-01", "is", "Integer", "'", "`", "exists(", "first()", "substring(", "-1", "as",
    ]), 0..24)) {
        let text = parts.join(" ");
        if let Ok(e) = Expression::parse(&text) {
            let r = response();
            let mut env = Variables::default();
            env.values.push(("resource".into(), vec![Item::Node(Node::root(&r))]));
            env.values.push(("context".into(), vec![Item::Node(Node::root(&r))]));
            let _ = e.evaluate(Node::root(&r), &env);
        }
    }
}
