// Package store persists SCIM resources. It never parses SCIM: documents are
// opaque maps except for the few attributes it indexes (userName, externalId,
// displayName). Group membership lives apart from the document so a
// 100,000-member group is never rewritten to add or remove one member.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the addressed resource does not exist.
var ErrNotFound = errors.New("not found")

// Kind is a resource type name.
type Kind string

// Resource kinds served.
const (
	User  Kind = "User"
	Group Kind = "Group"
)

// Member is one group member. Value is the member's id.
type Member struct {
	Value, Display, Type string
}

// Member operation kinds, applied in order by Update.
const (
	MemberAdd    = "add"
	MemberRemove = "remove"
	MemberClear  = "clear"
)

// MemberOp is one ordered change to a group's membership.
type MemberOp struct {
	Kind    string // MemberAdd, MemberRemove or MemberClear
	Members []Member
}

// Resource is a stored User or Group.
type Resource struct {
	Kind                  Kind
	ID                    string
	Doc                   map[string]any // the SCIM document (no id, meta, schemas, members, groups)
	Members               []Member       // groups; filled only when asked for
	Created, LastModified time.Time
	Version               int64

	// Raw is Doc as stored (compact JSON, keys sorted, as encoding/json
	// writes a map), set by reads and writes that have it at hand: a
	// response without projection can copy it instead of encoding Doc.
	// Nil when unknown; never modified by its holders.
	Raw []byte
	// Groups, when not nil, are the user's groups as GroupsOf would
	// answer, known to the read or write that returned the user (SQLite:
	// reads select them in the same statement, [] for a user in no group;
	// Update loads them in its transaction). Nil means unknown (ask
	// GroupsOf).
	Groups []GroupRef
}

// Lookup is an equality test the store can answer from an index.
type Lookup struct {
	Attr  string // id, userName, externalId, displayName
	Value string
}

// Query selects, orders and pages resources of one kind.
type Query struct {
	Lookup     *Lookup              // indexed push-down, or nil
	Match      func(*Resource) bool // full filter, evaluated in Go on candidates; nil = all
	Text       *Text                // what Match needs of a document's text; tested before decoding
	Order      *Order               // sortBy; nil = creation order
	StartIndex int                  // 1-based; values < 1 mean 1
	Count      int                  // 0 = totals only
	Members    bool                 // load group members
	// MatchMembers says Match reads Members (a filter on members.value):
	// they are then loaded before matching.
	MatchMembers bool
	// RawOnly says the caller reads only Raw of the page's resources: a
	// store may leave their Doc nil where it has not decoded it anyway
	// (Match and Order always see Doc).
	RawOnly bool
}

// Order sorts a List (sortBy). The store extracts each candidate's key
// once and keeps only keys while sorting, then loads the page's documents,
// so sorting 100,000 users holds 100,000 keys in memory, not documents.
// Ties keep creation order.
type Order struct {
	Key     func(*Resource) any // the value sorted on
	Compare func(a, b any) int  // orders two keys; the direction is its own

	// Column, when set, names a Lookup attribute (userName of users,
	// displayName of groups) whose index orders the resources as Key and
	// Compare do (keys are Fold-ed values) and holds a value for each of
	// them. An unfiltered list sorted on it is then paged in SQL, in the
	// direction Desc gives.
	Column string
	Desc   bool
}

// Page is one page of a List.
type Page struct {
	Total     int
	Resources []*Resource
}

// GroupRef names a group a user belongs to.
type GroupRef struct {
	ID, DisplayName string
}

// RawReader is implemented by stores that can read a resource without
// decoding its document: Doc is nil and Raw set. A response spliced from
// Raw (no projection) needs nothing more, and decoding was a sixth of a
// GET's CPU.
type RawReader interface {
	GetRaw(ctx context.Context, kind Kind, id string) (*Resource, error)
}

// Store is the persistence seam of the SCIM server.
type Store interface {
	// Create inserts r; the caller sets ID. Uniqueness violations are
	// *scimerr.Error 409.
	Create(ctx context.Context, r *Resource) error
	// Get returns the resource or ErrNotFound.
	Get(ctx context.Context, kind Kind, id string, members bool) (*Resource, error)
	// Update runs mutate and writes its result in one transaction. A mutate
	// error writes nothing and is returned as is.
	Update(ctx context.Context, kind Kind, id string,
		mutate func(cur *Resource) (doc map[string]any, ops []MemberOp, err error)) (*Resource, error)
	// Delete removes the resource; a deleted user leaves every group.
	Delete(ctx context.Context, kind Kind, id string) error
	// List returns one page of resources matching q.
	List(ctx context.Context, kind Kind, q Query) (*Page, error)
	// GroupsOf returns, for each user id, the groups it belongs to.
	GroupsOf(ctx context.Context, userIDs []string) (map[string][]GroupRef, error)
	// Ping checks the store is usable.
	Ping(ctx context.Context) error
	// EventLog is the change log every write appends to (events.go).
	EventLog
	// Close releases the store.
	Close() error
}
