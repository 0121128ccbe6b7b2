# One image, two binaries: /manager (the operator) and /scimserver (what each
# ScimTenant's Deployment runs). Static (pure-Go SQLite, CGO off), distroless,
# non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY scimserver/ scimserver/
COPY cmd/ cmd/
ARG TARGETOS=linux TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/scimserver ./cmd/scimserver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
COPY --from=build /out/scimserver /scimserver
# 65532 is distroless's nonroot user; the operator's pods run as it too.
USER 65532:65532
ENTRYPOINT ["/manager"]
