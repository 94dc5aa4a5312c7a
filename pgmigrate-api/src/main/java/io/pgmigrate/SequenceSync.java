package io.pgmigrate;

import java.util.List;

/**
 * Copies the position of every sequence of one database (owned by a column, identity, or free-standing) from one side
 * to the other. Obtain one with {@link Migration#sequenceSync(Side, String)}. Meant to run while the side read from
 * is fenced, so the values cannot move on afterwards.
 *
 * @since 0.1.0
 */
public interface SequenceSync {

    /**
     * Reads every sequence on the side this sync reads from and sets it on the other side so that its next value is
     * the reading side's next value plus {@code margin} increments (within the sequence's bounds), never moving one
     * backwards. A sequence whose {@code is_called} is false (after {@code RESTART} or {@code setval(..., false)})
     * counts from the value it will hand out next. One the migration role cannot read, or one missing on the other
     * side, fails the call.
     *
     * @param margin increments to add past the reading side's next value, zero or more
     * @return every sequence with the next value the other side now hands out
     * @throws IllegalArgumentException when {@code margin} is negative
     */
    List<CutoverReport.SequenceValue> sync(long margin);
}
