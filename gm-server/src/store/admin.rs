//! Admin identities, sessions, API tokens and player links.

use super::{Pool, Store, StoreError, duplicate};

/// An admin account as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AdminRecord {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role name (see [`crate::auth::Role`]).
    pub role: String,
    /// argon2id hash.
    pub password_hash: String,
    /// The password was set by someone else and must be changed at first login.
    pub must_change_password: bool,
    /// Base32 TOTP secret once enrolled.
    pub totp_secret: Option<String>,
    /// Secret offered during enrollment, not yet confirmed.
    pub totp_pending_secret: Option<String>,
    /// Disabled accounts cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// When the last one happened.
    pub last_failed_at_ms: Option<i64>,
    /// Locked until then, if locked.
    pub locked_until_ms: Option<i64>,
    /// Creation time.
    pub created_at_ms: i64,
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    /// Row id.
    pub id: i64,
    /// Whose.
    pub admin_id: i64,
    /// SHA-256 of the CSRF token given at login.
    pub csrf_hash: String,
    /// Address it logged in from.
    pub source: String,
    /// Browser or tool it logged in with.
    pub user_agent: String,
    /// Login time.
    pub created_at_ms: i64,
    /// Last request.
    pub last_seen_ms: i64,
    /// Absolute expiry.
    pub expires_at_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<i64>,
}

/// An API token as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    /// Row id.
    pub id: i64,
    /// Whose.
    pub admin_id: i64,
    /// Chosen name.
    pub name: String,
    /// Role the token acts with (never above its owner's).
    pub role: String,
    /// First characters of the secret.
    pub hint: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// Expiry.
    pub expires_at_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<i64>,
    /// Last use.
    pub last_used_at_ms: Option<i64>,
}

/// Filters of an audit query; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact channel.
    pub via: Option<String>,
    /// Exact target.
    pub target: Option<String>,
    /// At or after, Unix ms.
    pub since_ms: Option<i64>,
    /// Before, Unix ms.
    pub until_ms: Option<i64>,
}

macro_rules! admin_columns {
    () => {
        "id, name, role, password_hash, must_change_password, totp_secret, totp_pending_secret, \
         disabled, failed_logins, last_failed_at_ms, locked_until_ms, created_at_ms"
    };
}

macro_rules! session_columns {
    () => {
        "id, admin_id, csrf_hash, source, user_agent, created_at_ms, last_seen_ms, \
         expires_at_ms, revoked_at_ms"
    };
}

/// A token and its owner from a row of the joined query in [`Store::active_token_owner`],
/// through `$row.$get("column")?`: one field list for sqlx and rusqlite rows.
macro_rules! token_owner {
    ($row:ident, $get:ident) => {
        (
            TokenRecord {
                id: $row.$get("id")?,
                admin_id: $row.$get("admin_id")?,
                name: $row.$get("name")?,
                role: $row.$get("role")?,
                hint: $row.$get("hint")?,
                created_at_ms: $row.$get("created_at_ms")?,
                expires_at_ms: $row.$get("expires_at_ms")?,
                revoked_at_ms: $row.$get("revoked_at_ms")?,
                last_used_at_ms: $row.$get("last_used_at_ms")?,
            },
            AdminRecord {
                id: $row.$get("a_id")?,
                name: $row.$get("a_name")?,
                role: $row.$get("a_role")?,
                password_hash: $row.$get("password_hash")?,
                must_change_password: $row.$get("must_change_password")?,
                totp_secret: $row.$get("totp_secret")?,
                totp_pending_secret: $row.$get("totp_pending_secret")?,
                disabled: $row.$get("disabled")?,
                failed_logins: $row.$get("failed_logins")?,
                last_failed_at_ms: $row.$get("last_failed_at_ms")?,
                locked_until_ms: $row.$get("locked_until_ms")?,
                created_at_ms: $row.$get("a_created_at_ms")?,
            },
        )
    };
}

macro_rules! token_columns {
    () => {
        "id, admin_id, name, role, hint, created_at_ms, expires_at_ms, revoked_at_ms, \
         last_used_at_ms"
    };
}

impl Store {
    /// How many admin accounts exist.
    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM admins";
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?))
    }

    /// Creates an admin account.
    pub async fn create_admin(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        must_change_password: bool,
        now_ms: i64,
    ) -> Result<AdminRecord, StoreError> {
        let sql = concat!(
            "INSERT INTO admins (name, role, password_hash, must_change_password, created_at_ms) ",
            "VALUES ($1, $2, $3, $4, $5) RETURNING ",
            admin_columns!()
        );
        let r = on_pool!(self, pool => sqlx::query_as::<_, AdminRecord>(sql)
            .bind(name)
            .bind(role)
            .bind(password_hash)
            .bind(must_change_password)
            .bind(now_ms)
            .fetch_one(pool)
            .await);
        r.map_err(|e| duplicate(e, "admin", name))
    }

    /// The admin named `name`.
    pub async fn admin_by_name(&self, name: &str) -> Result<Option<AdminRecord>, StoreError> {
        let sql = concat!("SELECT ", admin_columns!(), " FROM admins WHERE name = $1");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AdminRecord>(sql)
            .bind(name)
            .fetch_optional(pool)
            .await?))
    }

    /// The admin with row id `id`.
    pub async fn admin_by_id(&self, id: i64) -> Result<Option<AdminRecord>, StoreError> {
        let sql = concat!("SELECT ", admin_columns!(), " FROM admins WHERE id = $1");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AdminRecord>(sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Admins with id above `after`, by id, at most `limit`.
    pub async fn list_admins(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AdminRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            admin_columns!(),
            " FROM admins WHERE id > $1 ORDER BY id LIMIT $2"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AdminRecord>(sql)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Changes role and/or disabled state. Returns false when there is no such admin.
    pub async fn update_admin(
        &self,
        id: i64,
        role: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE admins SET role = COALESCE($1, role), \
                   disabled = COALESCE($2, disabled) WHERE id = $3";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(role)
            .bind(disabled)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Records the outcome of failed logins for an account.
    pub async fn set_login_failures(
        &self,
        id: i64,
        failed_logins: i64,
        last_failed_at_ms: Option<i64>,
        locked_until_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE admins SET failed_logins = $1, last_failed_at_ms = $2, \
                   locked_until_ms = $3 WHERE id = $4";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(failed_logins)
                .bind(last_failed_at_ms)
                .bind(locked_until_ms)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Counts one more failed login, atomically (parallel attempts cannot undercount), and locks
    /// the account until `lock_until_ms` once `lockout_after` failures are reached. Returns the
    /// new count and lock.
    pub async fn record_login_failure(
        &self,
        id: i64,
        now_ms: i64,
        lockout_after: i64,
        lock_until_ms: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        let sql = "UPDATE admins SET failed_logins = failed_logins + 1, last_failed_at_ms = $1, \
                   locked_until_ms = CASE WHEN failed_logins + 1 >= $2 THEN $3 \
                   ELSE locked_until_ms END WHERE id = $4 \
                   RETURNING failed_logins, locked_until_ms";
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, (i64, Option<i64>)>(sql)
            .bind(now_ms)
            .bind(lockout_after)
            .bind(lock_until_ms)
            .bind(id)
            .fetch_one(pool)
            .await?),
        )
    }

    /// Sets a new password hash.
    pub async fn set_password(
        &self,
        id: i64,
        password_hash: &str,
        must_change_password: bool,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE admins SET password_hash = $1, must_change_password = $2 WHERE id = $3";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(password_hash)
                .bind(must_change_password)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets the pending and enrolled TOTP secrets.
    pub async fn set_totp(
        &self,
        id: i64,
        secret: Option<&str>,
        pending: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE admins SET totp_secret = $1, totp_pending_secret = $2 WHERE id = $3";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(secret)
                .bind(pending)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Stores a new session and returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        admin_id: i64,
        token_hash: &str,
        csrf_hash: &str,
        source: &str,
        user_agent: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<i64, StoreError> {
        let sql = "INSERT INTO admin_sessions (admin_id, token_hash, csrf_hash, source, \
                   user_agent, created_at_ms, last_seen_ms, expires_at_ms) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id";
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(admin_id)
            .bind(token_hash)
            .bind(csrf_hash)
            .bind(source)
            .bind(user_agent)
            .bind(now_ms)
            .bind(expires_at_ms)
            .fetch_one(pool)
            .await?))
    }

    /// The session whose token hashes to `token_hash`, revoked or not.
    pub async fn session_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM admin_sessions WHERE token_hash = $1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SessionRecord>(sql)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// Marks a session used now.
    pub async fn touch_session(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        let sql = "UPDATE admin_sessions SET last_seen_ms = $1 WHERE id = $2";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(now_ms).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// An admin's sessions that are neither revoked nor expired, newest first.
    pub async fn list_sessions(
        &self,
        admin_id: i64,
        now_ms: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM admin_sessions WHERE admin_id = $1 AND revoked_at_ms IS NULL ",
            "AND expires_at_ms > $2 ORDER BY id DESC LIMIT 200"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SessionRecord>(sql)
            .bind(admin_id)
            .bind(now_ms)
            .fetch_all(pool)
            .await?),
        )
    }

    /// Revokes one of an admin's sessions. Returns false when it was not theirs or not active.
    pub async fn revoke_session(
        &self,
        id: i64,
        admin_id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE admin_sessions SET revoked_at_ms = $1 \
                   WHERE id = $2 AND admin_id = $3 AND revoked_at_ms IS NULL";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(now_ms)
            .bind(id)
            .bind(admin_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Revokes every session of an admin (password change, account disabled).
    pub async fn revoke_all_sessions(&self, admin_id: i64, now_ms: i64) -> Result<u64, StoreError> {
        let sql = "UPDATE admin_sessions SET revoked_at_ms = $1 \
                   WHERE admin_id = $2 AND revoked_at_ms IS NULL";
        self.revoke_all_of(sql, admin_id, now_ms).await
    }

    /// Revokes every active API token of an admin (a password reset). Returns how many.
    pub async fn revoke_all_tokens(&self, admin_id: i64, now_ms: i64) -> Result<u64, StoreError> {
        let sql = "UPDATE api_tokens SET revoked_at_ms = $1 \
                   WHERE admin_id = $2 AND revoked_at_ms IS NULL";
        self.revoke_all_of(sql, admin_id, now_ms).await
    }

    /// Runs one of the revoke-all updates above; returns the rows it revoked.
    async fn revoke_all_of(
        &self,
        sql: &'static str,
        admin_id: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query(sql)
            .bind(now_ms)
            .bind(admin_id)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Stores a new API token.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_token(
        &self,
        admin_id: i64,
        name: &str,
        role: &str,
        token_hash: &str,
        hint: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<TokenRecord, StoreError> {
        let sql = concat!(
            "INSERT INTO api_tokens (admin_id, name, role, token_hash, hint, created_at_ms, ",
            "expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            token_columns!()
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(sql)
            .bind(admin_id)
            .bind(name)
            .bind(role)
            .bind(token_hash)
            .bind(hint)
            .bind(now_ms)
            .bind(expires_at_ms)
            .fetch_one(pool)
            .await?))
    }

    /// The token whose secret hashes to `token_hash`.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE token_hash = $1"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(sql)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?))
    }

    /// The active token whose secret hashes to `token_hash` with its enabled owner, in one
    /// query: what every bearer request needs.
    pub async fn active_token_owner(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<(TokenRecord, AdminRecord)>, StoreError> {
        let _timer = self.metrics.timer(super::StoreOp::TokenLookup);
        let sql = "SELECT t.id, t.admin_id, t.name, t.role, t.hint, t.created_at_ms, \
                   t.expires_at_ms, t.revoked_at_ms, t.last_used_at_ms, \
                   a.id AS a_id, a.name AS a_name, a.role AS a_role, a.password_hash, \
                   a.must_change_password, a.totp_secret, a.totp_pending_secret, a.disabled, \
                   a.failed_logins, a.last_failed_at_ms, a.locked_until_ms, \
                   a.created_at_ms AS a_created_at_ms \
                   FROM api_tokens t JOIN admins a ON a.id = t.admin_id \
                   WHERE t.token_hash = $1 AND t.revoked_at_ms IS NULL \
                   AND t.expires_at_ms > $2 AND a.disabled = FALSE";
        if let Some(inline) = &self.inline {
            let found = inline.read(|conn| {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params![token_hash, now_ms])?;
                match rows.next()? {
                    Some(r) => Ok(Some(token_owner!(r, get))),
                    None => Ok(None),
                }
            });
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let row = on_pool!(self, pool => {
            let row = sqlx::query(sql)
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(pool)
                .await?;
            match row {
                None => None,
                Some(r) => Some(split_token_owner(&r)?),
            }
        });
        Ok(row)
    }

    /// Marks a token used now.
    pub async fn touch_token(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        let sql = "UPDATE api_tokens SET last_used_at_ms = $1 WHERE id = $2";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(now_ms).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// An admin's tokens, newest first (revoked ones included, for the record).
    pub async fn list_tokens(&self, admin_id: i64) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE admin_id = $1 ORDER BY id DESC LIMIT 200"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(sql)
            .bind(admin_id)
            .fetch_all(pool)
            .await?))
    }

    /// Revokes one of an admin's tokens. Returns false when it was not theirs or not active.
    pub async fn revoke_token(
        &self,
        id: i64,
        admin_id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE api_tokens SET revoked_at_ms = $1 \
                   WHERE id = $2 AND admin_id = $3 AND revoked_at_ms IS NULL";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(now_ms)
            .bind(id)
            .bind(admin_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Links an in-game player account to an admin.
    pub async fn link_player(
        &self,
        admin_id: i64,
        account_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO player_links (account_id, admin_id, created_at_ms) VALUES ($1, $2, $3)";
        let r = on_pool!(self, pool => sqlx::query(sql)
            .bind(account_id)
            .bind(admin_id)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|_| ()));
        r.map_err(|e| duplicate(e, "player link for account", &account_id.to_string()))
    }

    /// Removes a link. Returns false when the account was not linked to this admin.
    pub async fn unlink_player(&self, admin_id: i64, account_id: i64) -> Result<bool, StoreError> {
        let sql = "DELETE FROM player_links WHERE account_id = $1 AND admin_id = $2";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(account_id)
            .bind(admin_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The player accounts linked to an admin.
    pub async fn player_links(&self, admin_id: i64) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT account_id FROM player_links WHERE admin_id = $1 ORDER BY account_id";
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(admin_id)
            .fetch_all(pool)
            .await?))
    }

    /// Every linked in-game account of an enabled admin, with the admin's role: the roster
    /// game servers use to authorize their own commands locally.
    pub async fn staff_roster(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = "SELECT l.account_id, a.role FROM player_links l \
                   JOIN admins a ON a.id = l.admin_id WHERE a.disabled = FALSE \
                   ORDER BY l.account_id";
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, (i64, String)>(sql)
            .fetch_all(pool)
            .await?),
        )
    }

    /// The admin who owns an in-game account, if any: how an in-game command is authorized.
    pub async fn admin_for_player(
        &self,
        account_id: i64,
    ) -> Result<Option<AdminRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            admin_columns!(),
            " FROM admins WHERE id = (SELECT admin_id FROM player_links WHERE account_id = $1)"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AdminRecord>(sql)
            .bind(account_id)
            .fetch_optional(pool)
            .await?))
    }
}

fn split_token_owner<'r, R: sqlx::Row>(r: &'r R) -> Result<(TokenRecord, AdminRecord), sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(token_owner!(r, try_get))
}
