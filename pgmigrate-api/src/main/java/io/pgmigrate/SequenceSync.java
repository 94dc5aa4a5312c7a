package io.pgmigrate;

import java.util.List;

/**
 * Copies the position of every sequence of one database (owned by a column, identity, or free-standing) from one side
 * to the other. Obtain one with {@link Migration#sequenceSync(Side, String)}. Meant to run while the side read from
 * is fenced, so the values cannot move on afterwards.
 */
public interface SequenceSync {

    /**
     * Reads every sequence on the side this sync reads from and sets it on the other side, {@code margin} increments
     * further (within the sequence's bounds), never moving one backwards. Sequences never used on the reading side are
     * left alone; one the migration role cannot read, or one missing on the other side, fails the call.
     *
     * @return the values set
     */
    List<CutoverReport.SequenceValue> sync(long margin);
}
