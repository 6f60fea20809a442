//! The routing policy against the shared table `tests/fixtures/routing-cases.json`,
//! which the frontend (Vitest) and the addon (pytest) suites read too: one truth
//! for the three implementations of §5.

use chat_core::policy::{may_start_direct, Party, Relations};
use chat_core::Role;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Table {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    caller: Person,
    target: Person,
    relation: Relation,
    allowed: bool,
    why: String,
}

#[derive(Deserialize)]
struct Person {
    id: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relation {
    target_teaches_caller: bool,
    caller_assigned_to_target: bool,
}

/// The facts of one case: its relation holds between its caller and target only.
struct Facts<'a> {
    case: &'a Case,
}

impl Relations for Facts<'_> {
    fn teaches(&self, instructor: &str, student: &str) -> bool {
        self.case.relation.target_teaches_caller
            && instructor == self.case.target.id
            && student == self.case.caller.id
    }
    fn assigned_to(&self, agent: &str, user: &str) -> bool {
        self.case.relation.caller_assigned_to_target
            && agent == self.case.caller.id
            && user == self.case.target.id
    }
}

fn table() -> Table {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/routing-cases.json");
    let text = std::fs::read_to_string(&path).expect("the shared routing table is readable");
    serde_json::from_str(&text).expect("the shared routing table parses")
}

#[test]
fn every_case_of_the_shared_routing_table() {
    let table = table();
    let failures: Vec<String> = table
        .cases
        .iter()
        .filter(|case| {
            let caller = Party {
                id: &case.caller.id,
                role: case.caller.role,
            };
            let target = Party {
                id: &case.target.id,
                role: case.target.role,
            };
            may_start_direct(caller, target, &Facts { case }) != case.allowed
        })
        .map(|case| {
            format!(
                "{} → {}: expected {} ({})",
                case.caller.id, case.target.id, case.allowed, case.why
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "routing disagrees with the shared table:\n{}",
        failures.join("\n")
    );
}

/// A table that lost rows would let the three implementations drift unseen.
#[test]
fn the_table_covers_every_pair_of_roles() {
    let table = table();
    for caller in Role::ALL {
        for target in Role::ALL {
            assert!(
                table
                    .cases
                    .iter()
                    .any(|c| c.caller.role == caller && c.target.role == target),
                "the shared routing table has no case for {caller:?} → {target:?}"
            );
        }
    }
}
