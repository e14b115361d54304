//! Who in an organization may manage whom: the rules behind every change to a person's role or account,
//! and who moderates a channel.
//!
//! Owners manage everyone, owners included. Administrators manage members and guests: they make them
//! members or guests, and deactivate and reactivate them; only an owner makes or unmakes an owner or an
//! administrator. Members and guests manage nobody. An organization always keeps an active owner (the
//! store refuses the change that would leave none).
//!
//! A channel is moderated by its owners and moderators and by the organization's owners and administrators
//! (in the channels they can see): they rename it, change its topic and privacy, archive it, remove its
//! members and delete others' messages. Its owners and the administrators also name its owners and
//! moderators, and remove anyone from it; a moderator removes plain members only.

use parley_proto::v1::{ChannelRole, Role};

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

/// Whether someone with these roles moderates a channel (`channel`: their role in it, if a member).
pub fn moderates(org: Role, channel: Option<ChannelRole>) -> bool {
    org.is_admin() || matches!(channel, Some(ChannelRole::Owner | ChannelRole::Moderator))
}

/// Whether someone with these roles names a channel's owners and moderators.
pub fn names_moderators(org: Role, channel: Option<ChannelRole>) -> bool {
    org.is_admin() || channel == Some(ChannelRole::Owner)
}

/// Whether someone with these roles may remove a member whose role in the channel is `target`.
pub fn may_remove(org: Role, channel: Option<ChannelRole>, target: ChannelRole) -> bool {
    names_moderators(org, channel) || (moderates(org, channel) && target == ChannelRole::Member)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Guest, Member, Owner};

    #[test]
    fn channels_are_moderated_by_their_owners_moderators_and_the_administrators() {
        use ChannelRole as C;
        // (org role, channel role, moderates, names moderators, removes a member, removes a moderator)
        let table = [
            (Owner, None, true, true, true, true),
            (Admin, None, true, true, true, true),
            (Member, None, false, false, false, false),
            (Member, Some(C::Member), false, false, false, false),
            (Member, Some(C::Moderator), true, false, true, false),
            (Member, Some(C::Owner), true, true, true, true),
            (Guest, Some(C::Member), false, false, false, false),
            (Guest, Some(C::Moderator), true, false, true, false),
            (Admin, Some(C::Member), true, true, true, true),
        ];
        for (org, channel, moderator, names, removes_member, removes_moderator) in table {
            let case = format!("{org:?} {channel:?}");
            assert_eq!(moderates(org, channel), moderator, "{case}");
            assert_eq!(names_moderators(org, channel), names, "{case}");
            assert_eq!(
                may_remove(org, channel, C::Member),
                removes_member,
                "{case}"
            );
            assert_eq!(
                may_remove(org, channel, C::Moderator),
                removes_moderator,
                "{case}"
            );
        }
    }

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
