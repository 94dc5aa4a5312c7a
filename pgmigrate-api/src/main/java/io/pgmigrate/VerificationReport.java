package io.pgmigrate;

import java.time.Duration;
import java.util.List;

/**
 * The result of comparing every replicated table of every database on both sides.
 *
 * @param tables  one entry per table
 * @param elapsed how long the comparison took
 * @since 0.1.0
 */
public record VerificationReport(List<TableVerification> tables, Duration elapsed) {

    /**
     * Makes an unmodifiable copy of {@code tables}.
     *
     * @param tables  one entry per table
     * @param elapsed how long the comparison took
     */
    public VerificationReport {
        tables = List.copyOf(tables);
    }

    /**
     * Whether every table has the same row count and digest on both sides.
     *
     * @return true when no table differs, also when there are no tables
     */
    public boolean matches() {
        return tables.stream().allMatch(TableVerification::matches);
    }

    /**
     * The tables that differ between the sides.
     *
     * @return the tables whose row count or digest differs, in report order; empty when every table matches
     */
    public List<TableVerification> mismatches() {
        return tables.stream().filter(t -> !t.matches()).toList();
    }

    /**
     * The report as a person reads it: one line per table (rows on each side, ranges compared, whether it matches),
     * the differing ranges under the tables that differ, and a last line with the totals and the time taken.
     *
     * @return the text, lines separated by {@code \n}
     */
    public String toText() {
        StringBuilder out = new StringBuilder();
        for (TableVerification t : tables) {
            out.append(String.format(java.util.Locale.ROOT, "%-10s %s.%s: %d rows on the source, %d on the target, %d range%s, %.1f s\n",
                    t.matches() ? "same" : "DIFFERENT", t.database(), t.qualifiedName(), t.sourceRows(),
                    t.targetRows(), t.ranges(), t.ranges() == 1 ? "" : "s", t.elapsed().toMillis() / 1000.0));
            for (KeyRange range : t.differingRanges()) {
                out.append("           differs in key range ").append(range).append('\n');
            }
        }
        long differing = mismatches().size();
        out.append(String.format(java.util.Locale.ROOT, "%d tables compared in %.1f s: %s\n", tables.size(), elapsed.toMillis() / 1000.0,
                differing == 0 ? "every table matches" : differing + " differ"));
        return out.toString();
    }
}
