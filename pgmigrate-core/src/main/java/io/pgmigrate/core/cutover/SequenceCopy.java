package io.pgmigrate.core.cutover;

import io.pgmigrate.CutoverReport.SequenceValue;
import io.pgmigrate.ErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.SequenceSync;
import io.pgmigrate.Side;
import io.pgmigrate.core.sql.Queries;
import io.pgmigrate.core.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.math.BigInteger;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Copies sequences with one query on each side: {@code pg_sequences} on the side read from, one {@code setval} per
 * sequence in a single statement on the other. Logical replication does not carry sequences, so without this the new
 * side would hand out values the old side already used.
 */
public final class SequenceCopy implements SequenceSync {

    private static final Logger LOG = LoggerFactory.getLogger(SequenceCopy.class);

    private final Sessions sessions;
    private final Side from;
    private final String database;

    public SequenceCopy(Sessions sessions, Side from, String database) {
        this.sessions = sessions;
        this.from = from;
        this.database = database;
    }

    @Override
    public List<SequenceValue> sync(long margin) {
        if (margin < 0) {
            throw new IllegalArgumentException("margin must be zero or more, was " + margin);
        }
        try {
            Connection fromConn = sessions.get(from, database);
            // pg_sequences shows NULL both for a sequence never used and for one the role may not read: tell them apart.
            List<String> unreadable = Queries.list(fromConn, """
                    SELECT pg_catalog.format('%I.%I', schemaname, sequencename) FROM pg_sequences
                    WHERE schemaname NOT LIKE 'pgmigrate\\_%'
                      AND NOT has_sequence_privilege(pg_catalog.format('%I.%I', schemaname, sequencename), 'SELECT, USAGE')
                    """, rs -> rs.getString(1));
            if (!unreadable.isEmpty()) {
                throw new PgMigrateException(ErrorCode.PERMISSION_DENIED, database, "the migration role cannot read"
                        + " sequences " + unreadable + " on the " + sessions.connector(from).role()
                        + "; GRANT SELECT ON SEQUENCE ... TO it");
            }
            List<SequenceValue> wanted = new ArrayList<>();
            for (Object[] r : Queries.list(fromConn, """
                    SELECT schemaname, sequencename, last_value, increment_by, min_value, max_value FROM pg_sequences
                    WHERE last_value IS NOT NULL AND schemaname NOT LIKE 'pgmigrate\\_%'
                    ORDER BY 1, 2
                    """, rs -> new Object[]{rs.getString(1), rs.getString(2), rs.getLong(3), rs.getLong(4),
                    rs.getLong(5), rs.getLong(6)})) {
                BigInteger next = BigInteger.valueOf((Long) r[2])
                        .add(BigInteger.valueOf((Long) r[3]).multiply(BigInteger.valueOf(margin)));
                long value = next.max(BigInteger.valueOf((Long) r[4])).min(BigInteger.valueOf((Long) r[5])).longValue();
                wanted.add(new SequenceValue((String) r[0], (String) r[1], value));
            }
            if (wanted.isEmpty()) {
                return List.of();
            }
            Connection to = sessions.get(from.other(), database);
            String[] schemas = wanted.stream().map(SequenceValue::schema).toArray(String[]::new);
            String[] names = wanted.stream().map(SequenceValue::name).toArray(String[]::new);
            Long[] values = wanted.stream().map(SequenceValue::value).toArray(Long[]::new);
            // Never backwards: a sequence already further on the new side (a resumed cutover) keeps its position.
            Map<String, Long> set = new HashMap<>();
            for (Object[] r : Queries.list(to, """
                    SELECT x.s, x.n, pg_catalog.setval(c.oid, CASE WHEN ps.increment_by > 0
                               THEN greatest(x.v, coalesce(ps.last_value, x.v))
                               ELSE least(x.v, coalesce(ps.last_value, x.v)) END, true)
                    FROM unnest(?::text[], ?::text[], ?::bigint[]) AS x(s, n, v)
                    JOIN pg_namespace ns ON ns.nspname = x.s
                    JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = x.n AND c.relkind = 'S'
                    JOIN pg_sequences ps ON ps.schemaname = x.s AND ps.sequencename = x.n
                    """, rs -> new Object[]{rs.getString(1), rs.getString(2), rs.getLong(3)},
                    to.createArrayOf("text", schemas), to.createArrayOf("text", names),
                    to.createArrayOf("int8", values))) {
                set.put(r[0] + "\u0000" + r[1], (Long) r[2]);
            }
            List<SequenceValue> done = new ArrayList<>();
            List<String> missing = new ArrayList<>();
            for (SequenceValue v : wanted) {
                Long value = set.get(v.schema() + '\u0000' + v.name());
                if (value == null) {
                    missing.add(v.schema() + "." + v.name());
                } else {
                    done.add(new SequenceValue(v.schema(), v.name(), value));
                }
            }
            if (!missing.isEmpty()) {
                throw new PgMigrateException(ErrorCode.CUTOVER_FAILED, database, "sequences " + missing
                        + " do not exist on the " + sessions.connector(from.other()).role() + " (or cannot be set by the"
                        + " migration role); after the switch the application would fail on them");
            }
            LOG.debug("{}: set {} sequences on the {}", database, done.size(), sessions.connector(from.other()).role());
            return done;
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(ErrorCode.CUTOVER_FAILED, database, "copying sequences from the "
                    + sessions.connector(from).role() + " failed", e);
        }
    }
}
