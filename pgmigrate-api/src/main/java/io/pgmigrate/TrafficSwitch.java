package io.pgmigrate;

/**
 * Sends application traffic to one side. Called by the cutover while the old side is fenced, so it should finish
 * in well under a second; it must be idempotent, because a resumed cutover may call it again.
 *
 * @since 0.1.0
 */
public interface TrafficSwitch {

    /**
     * Points traffic at {@code side}. Throws when it could not, leaving traffic where it was.
     *
     * @param side the side that is to receive traffic
     */
    void switchTo(Side side);

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
