package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverReport.SequenceValue;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.SequenceSync;
import io.pgmigrate.Side;
import io.pgmigrate.core.internal.Mdc;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.math.BigInteger;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Copies sequences: the next value of every one is read on each side (a few queries, whatever their number), and one
 * statement sets those that are behind on the new side. Logical replication does not carry sequences, so without this
 * the new side would hand out values the old side already used. Positions are compared as "the value the next
 * {@code nextval()} returns", so a sequence with {@code is_called = false} is copied as exactly that.
 */
public final class SequenceCopy implements SequenceSync {

    private static final Logger LOG = LoggerFactory.getLogger(SequenceCopy.class);
    /** Sequences read per query: each is a relation of its own, read with one {@code UNION ALL} arm. */
    private static final int READ_BATCH = 500;

    private final Sessions sessions;
    private final Side from;
    private final String database;

    public SequenceCopy(Sessions sessions, Side from, String database) {
        this.sessions = sessions;
        this.from = from;
        this.database = database;
    }

    /**
     * Next values of the old side's sequences, read at one moment: a later {@link #sync(long, Observation, Duration)}
     * measures each sequence's rate from it.
     *
     * @param next  per sequence, the value the next {@code nextval()} returns
     * @param nanos when they were read ({@link System#nanoTime()})
     */
    public record Observation(Map<String, BigInteger> next, long nanos) {
    }

    /** Reads the old side's sequences now, for a later {@link #sync(long, Observation, Duration)}. */
    public Observation observe() {
        try {
            Connection c = sessions.get(from, database);
            List<Sequence> sequences = Queries.list(c, """
                    SELECT schemaname, sequencename, increment_by, min_value, max_value FROM pg_sequences
                    WHERE schemaname NOT LIKE 'pgmigrate\\_%'
                      AND has_sequence_privilege(pg_catalog.format('%I.%I', schemaname, sequencename), 'SELECT')
                    ORDER BY 1, 2
                    """, rs -> new Sequence(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getLong(4),
                    rs.getLong(5)));
            return new Observation(sequences.isEmpty() ? Map.of() : nextValues(c, sequences), System.nanoTime());
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, database, "reading sequences on the "
                    + sessions.connector(from).role() + " failed", e);
        }
    }

    @Override
    public List<SequenceValue> sync(long margin) {
        return sync(margin, null, Duration.ZERO);
    }

    /**
     * As {@link #sync(long)}, each sequence moved further by the values it would hand out over {@code horizon} at the
     * rate seen since {@code earlier} (none when {@code earlier} is null or the horizon zero).
     */
    public List<SequenceValue> sync(long margin, Observation earlier, Duration horizon) {
        try (Mdc.Scope onSide = Mdc.side(from.other())) {
            if (margin < 0) {
                throw new IllegalArgumentException("margin must be zero or more, was " + margin);
            }
            try {
                Connection fromConn = sessions.get(from, database);
                // pg_sequences shows NULL both for a sequence never used and for one the role may not read: tell them apart.
                List<String> unreadable = Queries.list(fromConn, """
                        SELECT pg_catalog.format('%I.%I', schemaname, sequencename) FROM pg_sequences
                        WHERE schemaname NOT LIKE 'pgmigrate\\_%'
                          AND NOT has_sequence_privilege(pg_catalog.format('%I.%I', schemaname, sequencename), 'SELECT')
                        """, rs -> rs.getString(1));
                if (!unreadable.isEmpty()) {
                    throw new PgMigrateException(CoreErrorCode.PERMISSION_DENIED, database, "the migration role cannot read"
                            + " sequences " + unreadable + " on the " + sessions.connector(from).role()
                            + "; GRANT SELECT ON SEQUENCE ... TO it");
                }
                List<Sequence> sequences = Queries.list(fromConn, """
                        SELECT schemaname, sequencename, increment_by, min_value, max_value FROM pg_sequences
                        WHERE schemaname NOT LIKE 'pgmigrate\\_%'
                        ORDER BY 1, 2
                        """, rs -> new Sequence(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getLong(4),
                        rs.getLong(5)));
                if (sequences.isEmpty()) {
                    return List.of();
                }
                Map<String, BigInteger> fromNext = nextValues(fromConn, sequences);
                Connection to = sessions.get(from.other(), database);
                List<String> missing = Queries.list(to, """
                        SELECT x.s || '.' || x.n FROM unnest(?::text[], ?::text[]) AS x(s, n)
                        WHERE NOT EXISTS (SELECT 1 FROM pg_sequences ps WHERE ps.schemaname = x.s AND ps.sequencename = x.n
                                          AND has_sequence_privilege(pg_catalog.format('%I.%I', x.s, x.n), 'SELECT')
                                          AND has_sequence_privilege(pg_catalog.format('%I.%I', x.s, x.n), 'UPDATE'))
                        """, rs -> rs.getString(1), to.createArrayOf("text", column(sequences, Sequence::schema)),
                        to.createArrayOf("text", column(sequences, Sequence::name)));
                if (!missing.isEmpty()) {
                    throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, database, "sequences " + missing
                            + " do not exist on the " + sessions.connector(from.other()).role() + " (or cannot be set by the"
                            + " migration role); after the switch the application would fail on them");
                }
                Map<String, BigInteger> toNext = nextValues(to, sequences);
                List<SequenceValue> done = new ArrayList<>();
                List<Sequence> toSet = new ArrayList<>();
                List<Long> lastValues = new ArrayList<>();
                List<Boolean> called = new ArrayList<>();
                for (Sequence q : sequences) {
                    BigInteger increment = BigInteger.valueOf(q.increment());
                    BigInteger next = fromNext.get(q.key());
                    BigInteger steps = BigInteger.valueOf(margin).add(byRate(q, next, earlier, horizon));
                    BigInteger wanted = next.add(increment.multiply(steps));
                    if (q.contains(next) && !q.contains(wanted)) {
                        // Fewer values left than the margin: the new side hands out the last one next, and is not
                        // exhausted while the old side is not.
                        wanted = BigInteger.valueOf(q.increment() > 0 ? q.max() : q.min());
                    }
                    BigInteger current = toNext.get(q.key());
                    // Never backwards: a sequence already further on the new side (a resumed cutover) keeps its position.
                    if (q.increment() > 0 ? current.compareTo(wanted) >= 0 : current.compareTo(wanted) <= 0) {
                        done.add(new SequenceValue(q.schema(), q.name(), q.clamp(current)));
                        continue;
                    }
                    toSet.add(q);
                    if (!q.contains(wanted)) {
                        // Past its bound on the old side already: exhausted on the new side too.
                        long bound = q.increment() > 0 ? q.max() : q.min();
                        lastValues.add(bound);
                        called.add(true);
                        done.add(new SequenceValue(q.schema(), q.name(), bound));
                        continue;
                    }
                    // Stored as the value before the next one, as nextval() leaves it, where the bounds allow.
                    BigInteger before = wanted.subtract(increment);
                    lastValues.add(q.contains(before) ? before.longValue() : wanted.longValue());
                    called.add(q.contains(before));
                    done.add(new SequenceValue(q.schema(), q.name(), wanted.longValue()));
                }
                if (!toSet.isEmpty()) {
                    Queries.list(to, """
                            SELECT pg_catalog.setval(pg_catalog.format('%I.%I', x.s, x.n)::regclass, x.v, x.c)
                            FROM unnest(?::text[], ?::text[], ?::bigint[], ?::boolean[]) AS x(s, n, v, c)
                            """, rs -> null, to.createArrayOf("text", column(toSet, Sequence::schema)),
                            to.createArrayOf("text", column(toSet, Sequence::name)),
                            to.createArrayOf("int8", lastValues.toArray(Long[]::new)),
                            to.createArrayOf("bool", called.toArray(Boolean[]::new)));
                }
                LOG.debug("{}: set {} of {} sequences on the {}", database, toSet.size(), done.size(),
                        sessions.connector(from.other()).role());
                return done;
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, database, "copying sequences from the "
                        + sessions.connector(from).role() + " failed", e);
            }
        }
    }

    /**
     * The value the next {@code nextval()} returns, per sequence, read from the sequences themselves in one query:
     * {@code pg_sequences.last_value} is NULL not only for a sequence never used but for every one whose
     * {@code is_called} is false (after {@code RESTART} or {@code setval(..., false)}).
     */
    private static Map<String, BigInteger> nextValues(Connection c, List<Sequence> sequences) throws SQLException {
        Map<String, BigInteger> out = new HashMap<>();
        for (int start = 0; start < sequences.size(); start += READ_BATCH) {
            List<Sequence> batch = sequences.subList(start, Math.min(sequences.size(), start + READ_BATCH));
            StringBuilder sql = new StringBuilder();
            for (int i = 0; i < batch.size(); i++) {
                Sequence q = batch.get(i);
                sql.append(i == 0 ? "" : "\nUNION ALL ").append("SELECT ").append(i)
                        .append(", CASE WHEN is_called THEN last_value::numeric + ").append(q.increment())
                        .append(" ELSE last_value END FROM ").append(quote(q.schema(), q.name()));
            }
            // numeric: one past a sequence that reached its bound does not fit in a bigint
            Queries.list(c, sql.toString(), rs -> out.put(batch.get(rs.getInt(1)).key(),
                    rs.getBigDecimal(2).toBigIntegerExact()));
        }
        return out;
    }

    /**
     * The increments {@code q} hands out over {@code horizon} at the rate seen since {@code earlier}: zero without an
     * earlier reading of it, or when it did not move forward.
     */
    private static BigInteger byRate(Sequence q, BigInteger next, Observation earlier, Duration horizon) {
        if (earlier == null || horizon.isZero() || !earlier.next().containsKey(q.key())) {
            return BigInteger.ZERO;
        }
        BigInteger used = next.subtract(earlier.next().get(q.key())).divide(BigInteger.valueOf(q.increment()));
        long elapsed = Math.max(1, System.nanoTime() - earlier.nanos());
        if (used.signum() <= 0) {
            return BigInteger.ZERO;
        }
        // used / elapsed * horizon, rounded up
        BigInteger scaled = used.multiply(BigInteger.valueOf(horizon.toNanos()));
        BigInteger[] qr = scaled.divideAndRemainder(BigInteger.valueOf(elapsed));
        return qr[1].signum() == 0 ? qr[0] : qr[0].add(BigInteger.ONE);
    }

    private static String[] column(List<Sequence> sequences, java.util.function.Function<Sequence, String> f) {
        return sequences.stream().map(f).toArray(String[]::new);
    }

    /** A sequence's name and bounds as {@code pg_sequences} shows them. */
    private record Sequence(String schema, String name, long increment, long min, long max) {

        String key() {
            return schema + '\u0000' + name;
        }

        long clamp(BigInteger value) {
            return value.max(BigInteger.valueOf(min)).min(BigInteger.valueOf(max)).longValue();
        }

        boolean contains(BigInteger value) {
            return value.compareTo(BigInteger.valueOf(min)) >= 0 && value.compareTo(BigInteger.valueOf(max)) <= 0;
        }
    }
}
