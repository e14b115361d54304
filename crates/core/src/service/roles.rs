//! Who in an organization may manage whom: the rules behind every change to a person's role or account.
//!
//! Owners manage everyone, owners included. Administrators manage members and guests: they make them
//! members or guests, and deactivate and reactivate them; only an owner makes or unmakes an owner or an
//! administrator. Members and guests manage nobody. An organization always keeps an active owner (the
//! store refuses the change that would leave none).

use parley_proto::v1::Role;

/// Whether someone with role `actor` may change the role of, or (de)activate, someone with role `target`.
pub fn may_manage(actor: Role, target: Role) -> bool {
    match actor {
        Role::Owner => true,
        Role::Admin => matches!(target, Role::Member | Role::Guest),
        Role::Member | Role::Guest => false,
    }
}

/// Whether someone with role `actor` may give a person role `role`.
pub fn may_grant(actor: Role, role: Role) -> bool {
    may_manage(actor, role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Guest, Member, Owner};

    #[test]
    fn owners_manage_everyone_and_admins_only_members_and_guests() {
        // (actor, target, may manage)
        let table = [
            (Owner, Owner, true),
            (Owner, Admin, true),
            (Owner, Member, true),
            (Owner, Guest, true),
            (Admin, Owner, false),
            (Admin, Admin, false),
            (Admin, Member, true),
            (Admin, Guest, true),
            (Member, Owner, false),
            (Member, Admin, false),
            (Member, Member, false),
            (Member, Guest, false),
            (Guest, Owner, false),
            (Guest, Admin, false),
            (Guest, Member, false),
            (Guest, Guest, false),
        ];
        for (actor, target, expected) in table {
            assert_eq!(
                may_manage(actor, target),
                expected,
                "{actor:?} managing {target:?}"
            );
            assert_eq!(
                may_grant(actor, target),
                expected,
                "{actor:?} granting {target:?}"
            );
        }
    }
}
