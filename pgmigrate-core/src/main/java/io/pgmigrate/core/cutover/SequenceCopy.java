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
import java.util.HashSet;
import java.util.List;
import java.util.Set;

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
            List<SequenceValue> wanted = new ArrayList<>();
            for (Object[] r : Queries.list(sessions.get(from, database), """
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
            Set<String> set = new HashSet<>(Queries.list(to, """
                    SELECT x.s, x.n FROM unnest(?::text[], ?::text[], ?::bigint[]) AS x(s, n, v)
                    JOIN pg_namespace ns ON ns.nspname = x.s
                    JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = x.n AND c.relkind = 'S'
                    CROSS JOIN LATERAL pg_catalog.setval(c.oid, x.v, true) AS sv
                    """, rs -> rs.getString(1) + '\u0000' + rs.getString(2), to.createArrayOf("text", schemas), to.createArrayOf("text", names),
                    to.createArrayOf("int8", values)));
            List<SequenceValue> done = new ArrayList<>();
            for (SequenceValue v : wanted) {
                if (set.contains(v.schema() + '\u0000' + v.name())) {
                    done.add(v);
                } else {
                    LOG.warn("{}: sequence {}.{} does not exist on the {}; it was not set", database, v.schema(), v.name(),
                            sessions.connector(from.other()).role());
                }
            }
            LOG.debug("{}: set {} sequences on the {}", database, done.size(), sessions.connector(from.other()).role());
            return done;
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(ErrorCode.CUTOVER_FAILED, database, "copying sequences from the "
                    + sessions.connector(from).role() + " failed", e);
        }
    }
}
