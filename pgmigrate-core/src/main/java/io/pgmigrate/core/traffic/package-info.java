/** Ways to move application traffic from one side of a migration to the other at cutover. */
package io.pgmigrate.core.traffic;
