package io.pgmigrate;

/**
 * A PostgreSQL write-ahead log position, printed the way the server prints it ({@code 16/B374D848}).
 *
 * @param value the position as an unsigned 64-bit number
 * @since 0.1.0
 */
public record Lsn(long value) implements Comparable<Lsn> {

    /** The invalid position {@code 0/0}. */
    public static final Lsn ZERO = new Lsn(0);

    /**
     * Parses the server's text form {@code XXX/XXX}.
     *
     * @param text two hexadecimal numbers of at most 32 bits each, separated by a slash, such as {@code 16/B374D848}
     * @return the position
     * @throws IllegalArgumentException when {@code text} is null or not of that form
     */
    public static Lsn parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("LSN text is null");
        }
        int slash = text.indexOf('/');
        if (slash <= 0 || slash == text.length() - 1) {
            throw new IllegalArgumentException("not an LSN: '" + text + "' (expected the form 16/B374D848)");
        }
        try {
            long hi = Long.parseLong(text.substring(0, slash), 16);
            long lo = Long.parseLong(text.substring(slash + 1), 16);
            if (hi > 0xFFFFFFFFL || lo > 0xFFFFFFFFL || hi < 0 || lo < 0) {
                throw new NumberFormatException();
            }
            return new Lsn((hi << 32) | lo);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an LSN: '" + text + "' (expected the form 16/B374D848)", e);
        }
    }

    /**
     * Bytes from {@code earlier} to this position; never negative.
     *
     * @param earlier the position to measure from
     * @return the distance in bytes; 0 when {@code earlier} is at or after this position
     */
    public long bytesAfter(Lsn earlier) {
        long d = value - earlier.value;
        return Long.compareUnsigned(value, earlier.value) > 0 ? d : 0;
    }

    /**
     * Whether this position is {@code other} or lies after it.
     *
     * @param other the position to compare with
     * @return true when this position is not before {@code other}
     */
    public boolean isAtOrAfter(Lsn other) {
        return compareTo(other) >= 0;
    }

    @Override
    public int compareTo(Lsn o) {
        return Long.compareUnsigned(value, o.value);
    }

    @Override
    public String toString() {
        return String.format("%X/%X", value >>> 32, value & 0xFFFFFFFFL);
    }
}
