//! The decision as a table over (relation to the repository) × visibility × token role × action, plus
//! property tests for the invariants every later feature relies on.

use gatehouse_authz::*;
use proptest::prelude::*;

const ORG: AccountId = 100;
const OWNER: AccountId = 1;
const ME: AccountId = 2;

#[derive(Debug, Clone, Copy)]
enum Relation {
    Anonymous,
    Stranger,
    OwnerUser,
    Member(OrgRole),
    /// A contributor on a repository it created itself.
    CreatorContributor,
    SiteAdmin,
}

fn subject(rel: Relation, token: Option<TokenRole>) -> Subject {
    let mut memberships = vec![];
    match rel {
        Relation::Anonymous => return Subject::Anonymous,
        Relation::Member(r) => memberships.push((ORG, r)),
        Relation::CreatorContributor => memberships.push((ORG, OrgRole::Contributor)),
        Relation::Stranger | Relation::OwnerUser | Relation::SiteAdmin => {}
    }
    Subject::User(UserSubject {
        user_id: ME,
        username: "me".into(),
        site_admin: matches!(rel, Relation::SiteAdmin),
        memberships,
        token: token.map(|role| TokenGrant { token_id: 9, role }),
    })
}

fn repo(rel: Relation, private: bool) -> RepoFacts {
    match rel {
        Relation::OwnerUser => RepoFacts {
            owner_id: ME,
            owner_is_org: false,
            private,
            created_by: Some(ME),
            gated: false,
            gate_passed: false,
        },
        Relation::CreatorContributor => RepoFacts {
            owner_id: ORG,
            owner_is_org: true,
            private,
            created_by: Some(ME),
            gated: false,
            gate_passed: false,
        },
        _ => RepoFacts {
            owner_id: ORG,
            owner_is_org: true,
            private,
            created_by: Some(OWNER),
            gated: false,
            gate_passed: false,
        },
    }
}

/// Expected outcome letters: A = allow, H = hide (404), U = deny, sign in (401), F = deny (403).
fn letter(d: Decision) -> char {
    match d {
        Decision::Allow => 'A',
        Decision::Hide => 'H',
        Decision::Deny(DenyReason::AuthRequired) => 'U',
        Decision::Deny(DenyReason::ReadOnlyToken | DenyReason::InsufficientRole) => 'F',
        Decision::Deny(DenyReason::Gated) => 'G',
    }
}

#[test]
fn repo_actions_table() {
    use OrgRole::*;
    use Relation::*;
    // Each row: relation, private?, token role, expected letters for [Read, Download, Write, Manage].
    let table: &[(Relation, bool, Option<TokenRole>, &str)] = &[
        (Anonymous, false, None, "AAUU"),
        (Anonymous, true, None, "HHHH"),
        (Stranger, false, Some(TokenRole::Write), "AAFF"),
        (Stranger, true, Some(TokenRole::Write), "HHHH"),
        (OwnerUser, true, Some(TokenRole::Write), "AAAA"),
        (OwnerUser, true, Some(TokenRole::Read), "AAFF"),
        (OwnerUser, true, None, "AAAA"),
        (Member(Read), true, Some(TokenRole::Write), "AAFF"),
        (Member(Read), false, Some(TokenRole::Write), "AAFF"),
        (Member(Contributor), true, Some(TokenRole::Write), "AAFF"),
        (CreatorContributor, true, Some(TokenRole::Write), "AAAF"),
        (CreatorContributor, true, Some(TokenRole::Read), "AAFF"),
        (Member(Write), true, Some(TokenRole::Write), "AAAF"),
        (Member(Write), true, Some(TokenRole::Read), "AAFF"),
        (Member(Admin), true, Some(TokenRole::Write), "AAAA"),
        (Member(Admin), false, Some(TokenRole::Read), "AAFF"),
        (SiteAdmin, true, Some(TokenRole::Write), "AAAA"),
        (SiteAdmin, true, Some(TokenRole::Read), "AAFF"),
    ];
    for (rel, private, token, expected) in table {
        let s = subject(*rel, *token);
        let r = repo(*rel, *private);
        let got: String = [Action::RepoRead, Action::RepoDownload, Action::RepoWrite, Action::RepoManage]
            .iter()
            .map(|a| letter(decide(&s, *a, Resource::Repo(&r))))
            .collect();
        assert_eq!(&got, expected, "{rel:?} private={private} token={token:?}");
    }
}

/// Gated repositories: content needs an accepted request, except for those who may write; the card and
/// everything else stay as they were.
#[test]
fn gated_repo_table() {
    use OrgRole::*;
    use Relation::*;
    // relation, private?, token, passed the gate?, expected letters for [Read, Download, Write, Manage]
    let table: &[(Relation, bool, Option<TokenRole>, bool, &str)] = &[
        (Anonymous, false, None, false, "AGUU"),
        (Anonymous, true, None, false, "HHHH"),
        (Stranger, false, Some(TokenRole::Write), false, "AGFF"),
        (Stranger, false, Some(TokenRole::Read), true, "AAFF"),
        (Stranger, true, Some(TokenRole::Write), true, "HHHH"),
        (Member(Read), true, Some(TokenRole::Write), false, "AGFF"),
        (Member(Contributor), true, Some(TokenRole::Write), false, "AGFF"),
        (CreatorContributor, true, Some(TokenRole::Write), false, "AAAF"),
        (Member(Write), true, Some(TokenRole::Read), false, "AAFF"),
        (Member(Admin), false, Some(TokenRole::Write), false, "AAAA"),
        (OwnerUser, false, Some(TokenRole::Read), false, "AAFF"),
        (SiteAdmin, true, Some(TokenRole::Write), false, "AAAA"),
    ];
    for (rel, private, token, passed, expected) in table {
        let s = subject(*rel, *token);
        let mut r = repo(*rel, *private);
        r.gated = true;
        r.gate_passed = *passed;
        let got: String = [Action::RepoRead, Action::RepoDownload, Action::RepoWrite, Action::RepoManage]
            .iter()
            .map(|a| letter(decide(&s, *a, Resource::Repo(&r))))
            .collect();
        assert_eq!(&got, expected, "{rel:?} private={private} token={token:?} passed={passed}");
    }
}

#[test]
fn namespace_actions_table() {
    use OrgRole::*;
    use Relation::*;
    let org = NamespaceFacts { id: ORG, is_org: true };
    let mine = NamespaceFacts { id: ME, is_org: false };
    let other = NamespaceFacts { id: OWNER, is_org: false };
    // relation, token, [create in org, create in own namespace, create in another user's, manage org members,
    //                   manage the org's collections, manage own collections, manage another user's collections,
    //                   invite people to the hub]
    let table: &[(Relation, Option<TokenRole>, &str)] = &[
        (Anonymous, None, "UUUUUUUU"),
        (Stranger, Some(TokenRole::Write), "FAFFFAFF"),
        (Stranger, Some(TokenRole::Read), "FFFFFFFF"),
        (Member(Read), Some(TokenRole::Write), "FAFFFAFF"),
        (Member(Contributor), Some(TokenRole::Write), "AAFFFAFF"),
        (Member(Write), Some(TokenRole::Write), "AAFFAAFF"),
        (Member(Write), None, "AAFFAAFF"),
        (Member(Admin), Some(TokenRole::Write), "AAFAAAFF"),
        (Member(Admin), Some(TokenRole::Read), "FFFFFFFF"),
        (SiteAdmin, Some(TokenRole::Write), "AAAAAAAA"),
        (SiteAdmin, Some(TokenRole::Read), "FFFFFFFF"),
    ];
    for (rel, token, expected) in table {
        let s = subject(*rel, *token);
        let got: String = [
            decide(&s, Action::RepoCreate, Resource::Namespace(&org)),
            decide(&s, Action::RepoCreate, Resource::Namespace(&mine)),
            decide(&s, Action::RepoCreate, Resource::Namespace(&other)),
            decide(&s, Action::OrgManageMembers, Resource::Namespace(&org)),
            decide(&s, Action::CollectionManage, Resource::Namespace(&org)),
            decide(&s, Action::CollectionManage, Resource::Namespace(&mine)),
            decide(&s, Action::CollectionManage, Resource::Namespace(&other)),
            decide(&s, Action::InviteUsers, Resource::Site),
        ]
        .into_iter()
        .map(letter)
        .collect();
        assert_eq!(&got, expected, "{rel:?} token={token:?}");
    }
}

fn arb_subject() -> impl Strategy<Value = Subject> {
    let role = prop_oneof![Just(OrgRole::Read), Just(OrgRole::Contributor), Just(OrgRole::Write), Just(OrgRole::Admin)];
    let token = prop_oneof![Just(None), Just(Some(TokenRole::Read)), Just(Some(TokenRole::Write))];
    prop_oneof![
        Just(Subject::Anonymous),
        (1i64..6, any::<bool>(), prop::collection::vec((100i64..104, role), 0..3), token).prop_map(
            |(user_id, site_admin, memberships, token)| Subject::User(UserSubject {
                user_id,
                username: format!("u{user_id}"),
                site_admin,
                memberships,
                token: token.map(|role| TokenGrant { token_id: 1, role }),
            })
        ),
    ]
}

fn arb_repo() -> impl Strategy<Value = RepoFacts> {
    (prop_oneof![1i64..6, 100i64..104], any::<bool>(), prop::option::of(1i64..6), any::<bool>(), any::<bool>())
        .prop_map(|(owner_id, private, created_by, gated, gate_passed)| RepoFacts {
            owner_id,
            owner_is_org: owner_id >= 100,
            private,
            created_by,
            gated,
            gate_passed,
        })
}

fn arb_namespace() -> impl Strategy<Value = NamespaceFacts> {
    prop_oneof![1i64..6, 100i64..104].prop_map(|id| NamespaceFacts { id, is_org: id >= 100 })
}

fn arb_namespace_action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::RepoCreate), Just(Action::OrgManageMembers), Just(Action::CollectionManage)]
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::RepoRead), Just(Action::RepoDownload), Just(Action::RepoWrite), Just(Action::RepoManage)]
}

proptest! {
    /// Lists and point checks cannot diverge: the filter admits exactly what RepoRead allows.
    #[test]
    fn listing_filter_matches_point_check(s in arb_subject(), r in arb_repo()) {
        let allowed = decide(&s, Action::RepoRead, Resource::Repo(&r)) == Decision::Allow;
        prop_assert_eq!(allowed, s.repo_filter().admits(r.owner_id, r.private));
    }

    /// A token never exceeds its owner: whatever the token allows, the user without a token allows too.
    #[test]
    fn token_never_exceeds_owner(s in arb_subject(), r in arb_repo(), a in arb_action()) {
        if let Subject::User(u) = &s {
            let mut full = u.clone();
            full.token = None;
            let with_token = decide(&s, a, Resource::Repo(&r));
            let without = decide(&Subject::User(full), a, Resource::Repo(&r));
            if with_token == Decision::Allow {
                prop_assert_eq!(without, Decision::Allow);
            }
        }
    }

    /// A read token never changes anything.
    #[test]
    fn read_token_never_writes(s in arb_subject(), r in arb_repo()) {
        if let Subject::User(UserSubject { token: Some(TokenGrant { role: TokenRole::Read, .. }), .. }) = &s {
            for a in [Action::RepoWrite, Action::RepoManage] {
                prop_assert_ne!(decide(&s, a, Resource::Repo(&r)), Decision::Allow);
            }
        }
    }

    /// Hidden means hidden for every action: a caller who cannot read learns nothing from a write attempt.
    #[test]
    fn hidden_for_read_implies_hidden_for_all(s in arb_subject(), r in arb_repo(), a in arb_action()) {
        if decide(&s, Action::RepoRead, Resource::Repo(&r)) == Decision::Hide {
            prop_assert_eq!(decide(&s, a, Resource::Repo(&r)), Decision::Hide);
        }
    }

    /// A gate only ever narrows downloads: every other action decides as if there were no gate, and
    /// whoever may write is never gated.
    #[test]
    fn gates_only_narrow_downloads(s in arb_subject(), r in arb_repo(), a in arb_action()) {
        let mut open = r.clone();
        open.gated = false;
        let gated = decide(&s, a, Resource::Repo(&r));
        let ungated = decide(&s, a, Resource::Repo(&open));
        if a != Action::RepoDownload || !r.gated {
            prop_assert_eq!(gated, ungated);
        } else if gated == Decision::Allow {
            prop_assert_eq!(ungated, Decision::Allow);
        }
        if decide(&s, Action::RepoWrite, Resource::Repo(&open)) == Decision::Allow {
            prop_assert_eq!(decide(&s, Action::RepoDownload, Resource::Repo(&r)), Decision::Allow);
        }
    }

    /// On namespaces too, a token never exceeds its owner and a read token never changes anything
    /// (creating repositories, managing members or collections).
    #[test]
    fn namespace_tokens_never_exceed_owner(s in arb_subject(), ns in arb_namespace(), a in arb_namespace_action()) {
        if let Subject::User(u) = &s {
            let mut full = u.clone();
            full.token = None;
            if decide(&s, a, Resource::Namespace(&ns)) == Decision::Allow {
                prop_assert_eq!(decide(&Subject::User(full), a, Resource::Namespace(&ns)), Decision::Allow);
            }
            if u.token.as_ref().is_some_and(|t| t.role == TokenRole::Read) {
                prop_assert_ne!(decide(&s, a, Resource::Namespace(&ns)), Decision::Allow);
            }
        }
    }

    /// Whoever may manage an organization's members may also manage its collections, and managing
    /// collections never needs more than writing: it is allowed exactly to write and admin members.
    #[test]
    fn collection_manage_follows_org_roles(ns in arb_namespace(), i in 0usize..4) {
        let role = OrgRole::ALL[i];
        // A user who is not the namespace itself (ids 1..6 and 100..104 are namespaces).
        let s = Subject::User(UserSubject { user_id: 50, username: "u".into(), site_admin: false,
            memberships: vec![(ns.id, role)], token: None });
        let manage = decide(&s, Action::CollectionManage, Resource::Namespace(&ns)) == Decision::Allow;
        prop_assert_eq!(manage, ns.is_org && role >= OrgRole::Write);
        if decide(&s, Action::OrgManageMembers, Resource::Namespace(&ns)) == Decision::Allow {
            prop_assert!(manage);
        }
    }

    /// More rights never remove a permission: going up the org-role ladder only adds.
    #[test]
    fn roles_are_monotonic(r in arb_repo(), a in arb_action(), i in 0usize..3) {
        let mk = |role| Subject::User(UserSubject { user_id: 5, username: "u".into(), site_admin: false,
            memberships: vec![(r.owner_id, role)], token: None });
        let lower = decide(&mk(OrgRole::ALL[i]), a, Resource::Repo(&r));
        let higher = decide(&mk(OrgRole::ALL[i + 1]), a, Resource::Repo(&r));
        if lower == Decision::Allow { prop_assert_eq!(higher, Decision::Allow); }
    }
}
