package io.pgmigrate.core.internal.replication;

import io.pgmigrate.Lsn;
import io.pgmigrate.Sentinel;
import io.pgmigrate.core.internal.schema.TableRef;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;

/**
 * One database's stream in one direction, whatever carries it: a publication and a logical slot on the publishing
 * side, and what applies the changes on the other (a subscription for NATIVE, pgmigrate's own stream worker for
 * STREAM). Cutover, status and verification talk to this and never name an engine. Connections are named for the
 * roles they play here: {@code publisher} is the side the slot is on, {@code subscriber} the side changes are applied
 * to.
 */
public interface ReplicationLink {

    String database();

    String publication();

    String slot();

    /** What applies the changes, for messages: "subscription x", "pgmigrate's stream worker x". */
    String applier();

    /** Whether the journal says this migration created any of the link's objects. */
    boolean created();

    /** Whether the applying end is set up (it may be disabled). */
    boolean exists(Connection subscriber) throws SQLException;

    /** Whether the applying end is set up and enabled. */
    boolean enabled(Connection subscriber) throws SQLException;

    boolean publicationExists(Connection publisher) throws SQLException;

    /** What to do when the publication of a running stream is gone. */
    String publicationLost(String publisherRole);

    /** Makes the publication publish exactly {@code tables}, creating it when missing. */
    void ensurePublicationOf(Connection publisher, List<TableRef> tables) throws SQLException;

    /** The tables the publication publishes, sorted. */
    List<TableRef> published(Connection publisher) throws SQLException;

    /**
     * Creates what is missing of the link (publication of {@code tables}, slot, applying end), leaving it disabled;
     * an existing disabled link is brought to that table set.
     */
    void prepare(Connection publisher, Connection subscriber, List<TableRef> tables) throws SQLException;

    /** The link's positions and each table's copy state. */
    LinkState read(Connection publisher, Connection subscriber) throws SQLException;

    /**
     * Starts applying; with {@code originNone}, from now on changes that were themselves applied by a stream are
     * skipped (both servers run PostgreSQL 16 or later). Without it the link filters as it did before.
     */
    void enable(Connection subscriber, boolean originNone) throws SQLException;

    /** Stops applying; the slot keeps the changes from here on. May return before the applying end stopped. */
    void disable(Connection subscriber) throws SQLException;

    /** Waits until nothing applies changes of this link any more (after {@link #disable}). */
    void awaitStopped(Connection subscriber, Duration timeout) throws SQLException;

    /**
     * Moves the start of a disabled link forward to {@code lsn} (never back): the slot, and the position the applying
     * end resumes from, so neither a crash of the publisher nor of this process makes it start before.
     *
     * @return where the slot is now
     */
    Lsn moveStart(Connection publisher, Connection subscriber, Lsn lsn) throws SQLException;

    /**
     * For a link that is set up but does not run: moves its slot to the publisher's current position, so it pins no
     * WAL.
     *
     * @return why the link could not carry a move back any more, or empty
     */
    String keepIdleSlotCurrent(Connection publisher, Connection subscriber) throws SQLException;

    /**
     * Removes the link's objects that the journal says are this migration's.
     *
     * @param publisher  a connection to the publisher's database, or null when that database does not exist
     * @param subscriber a connection to the subscriber's database, or null when that database does not exist
     */
    void drop(Connection publisher, Connection subscriber) throws SQLException;

    /** The sentinel of this link: a marker written on the publisher, awaited until applied on the subscriber. */
    Sentinel sentinel();

    /**
     * What applies the link's changes now, as far as this process can tell.
     *
     * @param connections  sessions applying on the subscriber
     * @param transactions source transactions committed since this process started applying, or -1 when not counted
     * @param queued       changes read from the publisher and not yet committed, or -1 when not known
     */
    record Applying(int connections, long transactions, long queued) {
    }

    /** What applies the link's changes now, given its state just read. */
    Applying applying(LinkState state);

    /** The engine this link belongs to. */
    io.pgmigrate.Engine engine();
}
