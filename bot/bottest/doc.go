// Package bottest holds the test doubles that opsbot's tests share, so that
// each port has one fake whose behaviour is written down once: Clock, a
// bot.Clock a test sets and moves by hand, and Chat, a recording in-memory
// bot.Chat with a directory, failure injection and a log of every call.
//
// Only tests import it. Console mode's in-memory workspace
// (integrations/console) is the product's own front end and prints what it
// is asked to do; Chat records everything, including what a test needs to
// assert on and console mode never shows (every call in order, whole
// messages with their fields and buttons, every opened form), and fails on
// demand.
package bottest
