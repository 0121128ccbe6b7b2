// Package eventlog is the tenant's change log: the ordered record of every
// committed change to its users and groups, appended by the store in the
// same transaction as the change, read by the change feed (GET /v1/events)
// and by webhook delivery (package delivery).
//
// This file is the contract between the three: the event as applications
// see it, and the interfaces that read the log. The store owns the table
// (migration 3 of package store) and writes it; nothing else does.
package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Event types. One committed change emits one or more of them, in order.
const (
	UserCreated       = "user.created"
	UserUpdated       = "user.updated"
	UserDeactivated   = "user.deactivated" // active went from true (or absent) to false
	UserReactivated   = "user.reactivated" // active went from false to true
	UserDeleted       = "user.deleted"
	GroupCreated      = "group.created"
	GroupUpdated      = "group.updated"
	GroupDeleted      = "group.deleted"
	GroupMemberAdded  = "group.member_added"   // one event per member
	GroupMemberRemove = "group.member_removed" // one event per member
)

// Types lists every event type, in documentation order.
var Types = []string{
	UserCreated, UserUpdated, UserDeactivated, UserReactivated, UserDeleted,
	GroupCreated, GroupUpdated, GroupDeleted, GroupMemberAdded, GroupMemberRemove,
}

// Event is one change, as the feed and webhooks publish it.
type Event struct {
	// Seq is the tenant's cursor: strictly increasing, never reused, with
	// no gaps between committed events (pruning removes only a prefix).
	Seq int64 `json:"seq"`
	// ID is globally unique (a UUID); receivers deduplicate on it.
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// ResourceType is "User" or "Group"; ResourceID the SCIM id.
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	// Resource is the SCIM representation after the change (for deletes:
	// as it was). Groups are rendered without members: membership travels
	// as member events.
	Resource json.RawMessage `json:"resource,omitempty"`
	// Changes lists, for updates, each changed attribute path with its
	// previous value (absent when the attribute was added).
	Changes []Change `json:"changes,omitempty"`
	// Member is the member added or removed, for member events.
	Member *Member `json:"member,omitempty"`
}

// Change is one changed attribute of an update.
type Change struct {
	Path     string          `json:"path"`
	Previous json.RawMessage `json:"previous,omitempty"`
}

// Member names a group member in a member event.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// ErrExpired is returned when a cursor is older than the oldest retained
// event: the reader missed pruned events and must resync from a snapshot.
var ErrExpired = errors.New("eventlog: cursor is older than the retained events")

// Reader reads the log in cursor order.
type Reader interface {
	// Read returns up to limit events with Seq > after, in order. after 0
	// means from the oldest retained event. A cursor whose successor was
	// pruned yields ErrExpired.
	Read(ctx context.Context, after int64, limit int) ([]Event, error)
	// Head returns the Seq of the newest event, 0 when none was ever written.
	Head(ctx context.Context) (int64, error)
	// Wait blocks until an event with Seq > after exists or ctx ends.
	Wait(ctx context.Context, after int64) error
}
