// Package jsonscan reads the plain JSON that Folio's clients and server write
// for their frequent messages, without reflection: objects with known keys,
// unescaped strings, plain non-negative integers, arrays passed on raw. It
// never decides anything: a caller that meets anything else gives up and
// lets encoding/json answer, so what it accepts must decode the same way
// there (each caller fuzzes that).
//
// It depends on the standard library only.
package jsonscan
