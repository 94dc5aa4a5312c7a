package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Makes one database's large objects on one side the same as on the other: the ones the other side lacks or holds
 * with other content are created again under the same OID (with their owner and grants, where the role exists on
 * both sides), and the ones only it has are removed. A change of owner or grants alone is not seen.
 * Logical replication does not carry {@code pg_largeobject}, so a cutover runs this once before the fence for the bulk
 * and once inside it for what changed since. Content is compared by each server's md5 of the object, so what travels
 * is what differs, in chunks; each object is replaced in a transaction of its own.
 */
final class LargeObjectCopy {

    /** Bytes read and written per call. */
    private static final int CHUNK = 1 << 20;

    private LargeObjectCopy() {
    }

    /** What a synchronisation did. */
    record Synced(int copied, int removed, long bytes) {
    }


    /** Whether {@code c}'s database has any large object. */
    static boolean any(Connection c) throws SQLException {
        return Queries.exists(c, "SELECT 1 FROM pg_catalog.pg_largeobject_metadata");
    }

    /**
     * Holds writes of large objects on {@code c}'s side until its transaction ends: a {@code SHARE} lock on the
     * catalogs {@code lo_create}, {@code lo_put} and {@code lo_unlink} write, which the trigger fence does not cover.
     * Needs the catalogs' owner (a superuser) or, on 17 and later, MAINTAIN on them.
     *
     * @return false when the role may not take it (nothing is held)
     */
    static boolean hold(Connection c) throws SQLException {
        Queries.execute(c, "SAVEPOINT hold_large_objects");
        try {
            Queries.execute(c, "LOCK TABLE pg_catalog.pg_largeobject, pg_catalog.pg_largeobject_metadata IN SHARE MODE");
            return true;
        } catch (SQLException e) {
            if (!"42501".equals(e.getSQLState())) {
                throw e;
            }
            Queries.execute(c, "ROLLBACK TO SAVEPOINT hold_large_objects");
            return false;
        }
    }

    /** Makes {@code to}'s large objects those of {@code from}; {@code to} must be in autocommit mode. */
    static Synced sync(Connection from, Connection to) throws SQLException {
        Map<Long, String> have = read(from);
        Map<Long, String> there = read(to);
        int copied = 0;
        int removed = 0;
        long bytes = 0;
        to.setAutoCommit(false);
        try {
            for (Long oid : there.keySet()) {
                if (!have.containsKey(oid)) {
                    Queries.first(to, "SELECT lo_unlink(?::oid)", rs -> null, oid);
                    to.commit();
                    removed++;
                }
            }
            for (Map.Entry<Long, String> e : have.entrySet()) {
                if (e.getValue().equals(there.get(e.getKey()))) {
                    continue;
                }
                bytes += copy(from, to, e.getKey(), there.containsKey(e.getKey()));
                to.commit();
                copied++;
            }
        } catch (SQLException | RuntimeException e) {
            to.rollback();
            throw e;
        } finally {
            to.setAutoCommit(true);
        }
        return new Synced(copied, removed, bytes);
    }

    /** Each large object's OID and the md5 of its content. */
    private static Map<Long, String> read(Connection c) throws SQLException {
        Map<Long, String> seen = new HashMap<>();
        for (Object[] row : Queries.list(c, "SELECT m.oid::bigint, md5(lo_get(m.oid))"
                + " FROM pg_catalog.pg_largeobject_metadata m", rs -> new Object[] {rs.getLong(1), rs.getString(2)})) {
            seen.put((Long) row[0], (String) row[1]);
        }
        return seen;
    }

    /** Creates large object {@code oid} on {@code to} as {@code from} has it; returns the bytes copied. */
    private static long copy(Connection from, Connection to, long oid, boolean exists) throws SQLException {
        if (exists) {
            Queries.first(to, "SELECT lo_unlink(?::oid)", rs -> null, oid);
        }
        Queries.first(to, "SELECT lo_from_bytea(?::oid, ''::bytea)", rs -> null, oid);
        long offset = 0;
        try (PreparedStatement read = from.prepareStatement("SELECT lo_get(?::oid, ?, ?)");
             PreparedStatement write = to.prepareStatement("SELECT lo_put(?::oid, ?, ?)")) {
            while (true) {
                read.setLong(1, oid);
                read.setLong(2, offset);
                read.setInt(3, CHUNK);
                byte[] chunk;
                try (ResultSet rs = read.executeQuery()) {
                    rs.next();
                    chunk = rs.getBytes(1);
                }
                if (chunk == null || chunk.length == 0) {
                    break;
                }
                write.setLong(1, oid);
                write.setLong(2, offset);
                write.setBytes(3, chunk);
                write.executeQuery().close();
                offset += chunk.length;
                if (chunk.length < CHUNK) {
                    break;
                }
            }
        }
        String owner = Queries.string(from, "SELECT pg_get_userbyid(lomowner) FROM pg_catalog.pg_largeobject_metadata"
                + " WHERE oid = ?::oid", oid);
        if (role(to, owner)) {
            Queries.execute(to, "ALTER LARGE OBJECT " + oid + " OWNER TO " + quote(owner));
        }
        List<String[]> grants = Queries.list(from, """
                SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), ''), a.privilege_type, a.is_grantable
                FROM pg_catalog.pg_largeobject_metadata m, aclexplode(m.lomacl) a
                WHERE m.oid = ?::oid AND a.grantee <> m.lomowner
                """, rs -> new String[] {rs.getString(1), rs.getString(2), rs.getBoolean(3) ? "t" : "f"}, oid);
        for (String[] g : grants) {
            if (!g[0].isEmpty() && !role(to, g[0])) {
                continue;
            }
            Queries.execute(to, "GRANT " + ("UPDATE".equals(g[1]) ? "UPDATE" : "SELECT") + " ON LARGE OBJECT " + oid
                    + " TO " + (g[0].isEmpty() ? "PUBLIC" : quote(g[0])) + ("t".equals(g[2]) ? " WITH GRANT OPTION" : ""));
        }
        return offset;
    }

    private static boolean role(Connection c, String name) throws SQLException {
        return Queries.exists(c, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ?", name);
    }
}
