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
}
