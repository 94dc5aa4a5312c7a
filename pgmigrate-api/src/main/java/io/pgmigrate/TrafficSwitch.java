package io.pgmigrate;

/**
 * Sends application traffic to one side. Called by the cutover while the old side is fenced, so it should finish
 * in well under a second; it must be idempotent, because a resumed cutover may call it again.
 *
 * <p>A switch that can hold client requests (a connection pooler that pauses, a holding {@code DataSource}) also
 * implements {@link #hold(Side)} and {@link #release(Side)}: the cutover calls {@code hold} just before it fences the
 * old side, so requests made during the window wait instead of failing; {@code switchTo} points them at the new side;
 * {@code release} lets them go once the new side takes writes. When the cutover is abandoned, {@code switchTo} and
 * {@code release} are called with the old side instead.
 *
 * @since 0.1.0
 */
public interface TrafficSwitch {

    /**
     * Points traffic at {@code side}. Throws when it could not, leaving traffic where it was. Requests held by
     * {@link #hold(Side)} stay held until {@link #release(Side)}.
     *
     * @param side the side that is to receive traffic
     */
    void switchTo(Side side);

    /**
     * Holds new client requests to {@code side} and waits, bounded, until the ones in flight have finished; called
     * just before the cutover fences {@code side}. Requests wait until {@link #release(Side)}, which the cutover always
     * calls once this returned: with the new side when traffic moved, with {@code side} when the cutover is abandoned
     * (also after a crash, from {@code cutover()}, {@code rollback()} or {@code recover()}). Throws when in-flight
     * requests did not finish in time, having let the held ones go again to {@code side}. By default it does nothing:
     * requests made inside the window reach the fenced side and fail there.
     *
     * @param side the side that is about to be fenced
     * @since 0.2.0
     */
    default void hold(Side side) {
    }

    /**
     * Lets the requests held since {@link #hold(Side)} go, to {@code side}, which {@link #switchTo(Side)} pointed
     * traffic at; called once {@code side} takes writes (its fence lifted). Must be idempotent and must not fail when
     * nothing is held. By default it does nothing.
     *
     * @param side the side that takes traffic now
     * @since 0.2.0
     */
    default void release(Side side) {
    }

    /**
     * A short description for reports and logs, such as {@code pacemaker VIP pg-vip}.
     *
     * @return the description; by default the implementing class's simple name
     */
    default String description() {
        return getClass().getSimpleName();
    }

    /**
     * The switch that does nothing: the application switches itself after {@code cutover()} returns.
     *
     * @return a switch whose {@link #switchTo(Side)} returns at once
     */
    static TrafficSwitch none() {
        return new TrafficSwitch() {
            @Override
            public void switchTo(Side side) {
            }

            @Override
            public String description() {
                return "none (the application switches after cutover returns)";
            }
        };
    }
}
