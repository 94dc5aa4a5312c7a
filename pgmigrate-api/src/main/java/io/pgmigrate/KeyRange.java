package io.pgmigrate;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A range of a table's key, as verification compares it and {@link Migration#repair(VerificationReport)} copies it
 * again: the rows whose key comes after {@code after} (exclusive) up to {@code upTo} (inclusive), in the key's index
 * order on each server. Each bound holds one value per key column, as PostgreSQL prints it; {@code null} is an open
 * end.
 *
 * @param after the bound below, exclusive; null when the range is open below
 * @param upTo  the bound above, inclusive; null when the range is open above
 * @since 0.2.0
 */
public record KeyRange(List<String> after, List<String> upTo) {

    /**
     * Makes unmodifiable copies of the bounds (a value in them may be null: a key column of the replica identity's
     * index is never null, but a bound is kept as it was read).
     *
     * @param after the bound below, exclusive; null when the range is open below
     * @param upTo  the bound above, inclusive; null when the range is open above
     */
    public KeyRange {
        after = after == null ? null : Collections.unmodifiableList(new ArrayList<>(after));
        upTo = upTo == null ? null : Collections.unmodifiableList(new ArrayList<>(upTo));
    }

    /**
     * The whole key space: a table compared in one range, or one without a key.
     *
     * @return the range open at both ends
     */
    public static KeyRange all() {
        return new KeyRange(null, null);
    }

    /**
     * Whether this range is the whole key space.
     *
     * @return true when both ends are open
     */
    public boolean isAll() {
        return after == null && upTo == null;
    }

    /**
     * The range as {@code (after, upTo]}, with {@code -inf} and {@code +inf} for open ends and the values of a
     * bound of several columns separated by commas, e.g. {@code (site-1, 18, +inf]}.
     *
     * @return the text
     */
    @Override
    public String toString() {
        return "(" + (after == null ? "-inf" : String.join(", ", after)) + ", "
                + (upTo == null ? "+inf" : String.join(", ", upTo)) + "]";
    }
}
