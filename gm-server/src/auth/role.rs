//! Roles and what each may do. The matrix here is the one authority: the API's access
//! middleware, the in-game command path and docs/permissions.md all derive from it.

use serde::{Deserialize, Serialize};

pub use gm_proto::command::Role;

/// What a [`Role`] may do. (The role itself is shared with game servers through gm-proto,
/// since in-game commands carry the role they need.)
pub trait RolePermissions {
    /// Whether this role has `permission`.
    fn allows(self, permission: Permission) -> bool;
    /// Every permission this role has.
    fn permissions(self) -> Vec<Permission>;
}

impl RolePermissions for Role {
    fn allows(self, permission: Permission) -> bool {
        self >= permission.minimum_role()
    }

    fn permissions(self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.allows(*p))
            .collect()
    }
}

/// Something an authenticated caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Manage one's own sessions, tokens, password and second factor.
    ManageSelf,
    /// See connected game servers and live fleet events.
    ViewFleet,
    /// Run GM commands through the API; each command still needs its own role.
    RunCommands,
    /// Read the audit log.
    ViewAudit,
    /// Create, change and disable staff accounts; link player accounts to them; verify the
    /// audit chain.
    ManageStaff,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 5] = [
        Permission::ManageSelf,
        Permission::ViewFleet,
        Permission::RunCommands,
        Permission::ViewAudit,
        Permission::ManageStaff,
    ];

    /// The lowest role that has this permission.
    pub fn minimum_role(self) -> Role {
        match self {
            Permission::ManageSelf | Permission::ViewFleet | Permission::RunCommands => {
                Role::Viewer
            }
            Permission::ViewAudit => Role::SeniorGameMaster,
            Permission::ManageStaff => Role::Admin,
        }
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageSelf => "manage_self",
            Permission::ViewFleet => "view_fleet",
            Permission::RunCommands => "run_commands",
            Permission::ViewAudit => "view_audit",
            Permission::ManageStaff => "manage_staff",
        }
    }
}

/// The permission matrix as a Markdown table (rows: permissions; columns: roles), as written
/// into docs/permissions.md; a test keeps the two equal.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| permission |");
    for r in Role::ALL {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n| --- |");
    for _ in Role::ALL {
        out.push_str(" :-: |");
    }
    out.push('\n');
    for p in Permission::ALL {
        out.push_str(&format!("| `{}` |", p.as_str()));
        for r in Role::ALL {
            out.push_str(if r.allows(p) { " yes |" } else { " — |" });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("senior_game_master")
        );
    }

    #[test]
    fn higher_roles_include_lower_ones() {
        for p in Permission::ALL {
            let mut had = false;
            for r in Role::ALL {
                if had {
                    assert!(r.allows(p), "{r} lost {p:?}");
                }
                had = r.allows(p);
            }
            assert!(Role::Admin.allows(p));
        }
        assert!(!Role::GameMaster.allows(Permission::ViewAudit));
    }
}

#[cfg(test)]
mod doc_tests {
    #[test]
    fn docs_permissions_md_shows_the_matrix_in_the_code() {
        let doc = include_str!("../../../docs/permissions.md");
        let start = doc.find("<!-- matrix:start -->\n").expect("start marker") + 22;
        let end = doc.find("<!-- matrix:end -->").expect("end marker");
        assert_eq!(
            &doc[start..end],
            super::matrix_markdown(),
            "update docs/permissions.md"
        );
    }
}
