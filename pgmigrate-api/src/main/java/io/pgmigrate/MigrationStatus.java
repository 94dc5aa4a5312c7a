package io.pgmigrate;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A snapshot of a whole migration, one entry per database.
 *
 * @param name      the migration's name
 * @param takenAt   when the snapshot was taken
 * @param databases per-database status, in the order the databases were configured
 * @since 0.1.0
 */
public record MigrationStatus(String name, Instant takenAt, List<DatabaseStatus> databases) {

    /**
     * Makes an unmodifiable copy of {@code databases}.
     *
     * @param name      the migration's name
     * @param takenAt   when the snapshot was taken
     * @param databases per-database status, in the order the databases were configured
     */
    public MigrationStatus {
        databases = List.copyOf(databases);
    }

    /**
     * Total replication lag across all databases, in WAL bytes.
     *
     * @return the sum of every database's {@link DatabaseStatus#lagBytes()}; 0 when none lags
     */
    public long totalLagBytes() {
        return databases.stream().mapToLong(DatabaseStatus::lagBytes).sum();
    }

    /**
     * A view a person reads, for a terminal or a log: per database its phase, lag (bytes and time), how the stream
     * applies and any message; then one line per table still being copied or waiting (a progress bar, rows, bytes,
     * rate and time left), and how many tables are copied. Tables that are copied are not listed one by one.
     *
     * <pre>
     * migration demo, 12:00:03Z
     * shop: COPYING, lag 1.2 MB (0.4 s), 2 of 3 tables copied
     *   public.orders  [#########...........]  45%  135,000 of 300,000 rows  36.1 MB of 80.2 MB  12.0 MB/s  3.7 s left
     * </pre>
     *
     * @return the lines, joined by the platform's line separator, with none after the last
     * @since 0.2.0
     */
    public String toText() {
        List<String> lines = new ArrayList<>();
        lines.add("migration " + name + ", " + takenAt.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
        for (DatabaseStatus d : databases) {
            long copied = d.tables().stream().filter(t -> t.state() == CopyState.READY
                    || t.state() == CopyState.CATCHING_UP).count();
            StringBuilder head = new StringBuilder(d.database()).append(": ").append(d.phase());
            if (d.phase() != Phase.NOT_STARTED && d.phase() != Phase.COMPLETED && d.lagBytes() >= 0) {
                head.append(", lag ").append(bytes(d.lagBytes())).append(" (").append(seconds(d.lagTime()))
                        .append(')');
            }
            if (!d.tables().isEmpty()) {
                head.append(", ").append(copied).append(" of ").append(d.tables().size()).append(" tables copied");
            }
            ApplyStatus a = d.apply();
            if (a.engine() == Engine.STREAM && a.connections() > 0) {
                head.append(String.format(Locale.ROOT, ", applying on %d connections", a.connections()));
                if (a.transactionsPerSecond() >= 0) {
                    head.append(String.format(Locale.ROOT, " %,.0f tx/s", a.transactionsPerSecond()));
                }
                if (a.queuedChanges() >= 0) {
                    head.append(String.format(Locale.ROOT, ", %,d changes queued", a.queuedChanges()));
                }
            }
            lines.add(head.toString());
            if (!d.message().isEmpty()) {
                lines.add("  ! " + d.message());
            }
            List<TableStatus> open = d.tables().stream().filter(t -> t.state() == CopyState.COPYING
                    || t.state() == CopyState.PENDING).toList();
            int width = open.stream().mapToInt(t -> t.qualifiedName().length()).max().orElse(0);
            for (TableStatus t : open) {
                lines.add("  " + pad(t.qualifiedName(), width) + "  " + progress(t));
            }
        }
        return String.join(System.lineSeparator(), lines);
    }

    private static String progress(TableStatus t) {
        if (t.state() == CopyState.PENDING) {
            return "waiting for a copy worker";
        }
        StringBuilder b = new StringBuilder();
        Double fraction = t.fractionCopied().orElse(null);
        if (fraction != null) {
            int done = (int) Math.round(fraction * 20);
            b.append('[').append("#".repeat(done)).append(".".repeat(20 - done)).append("] ")
                    .append(String.format(Locale.ROOT, "%3.0f%%  ", fraction * 100));
        }
        b.append(String.format(Locale.ROOT, "%,d", t.rowsCopied()));
        if (t.estimatedRows() > 0) {
            b.append(String.format(Locale.ROOT, " of %,d", t.estimatedRows()));
        }
        b.append(" rows  ").append(bytes(t.bytesCopied()));
        if (t.estimatedBytes() > 0) {
            b.append(" of ").append(bytes(t.estimatedBytes()));
        }
        if (t.bytesPerSecond() > 0) {
            b.append("  ").append(bytes((long) t.bytesPerSecond())).append("/s");
        }
        t.eta().ifPresent(e -> b.append("  ").append(seconds(e)).append(" left"));
        return b.toString();
    }

    private static String pad(String s, int width) {
        return s + " ".repeat(Math.max(0, width - s.length()));
    }

    private static String bytes(long n) {
        if (n < 1000) {
            return n + " B";
        }
        String[] units = {"kB", "MB", "GB", "TB"};
        double v = n;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    private static String seconds(Duration d) {
        if (d == null) {
            return "?";
        }
        long ms = d.toMillis();
        return ms < 10_000 ? String.format(Locale.ROOT, "%.1f s", ms / 1000.0)
                : ms < 600_000 ? (ms / 1000) + " s" : String.format(Locale.ROOT, "%d min", ms / 60_000);
    }

    /**
     * The status of one database.
     *
     * @param database the database's name
     * @return its status
     * @throws IllegalArgumentException when {@code database} is not part of the migration
     */
    public DatabaseStatus database(String database) {
        return databases.stream().filter(d -> d.database().equals(database)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("database '" + database + "' is not part of migration " + name));
    }
}
