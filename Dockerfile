# Builds the one surge binary. Used by docker-compose.yml.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/surge ./cmd/surge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/surge /usr/local/bin/surge
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/surge"]
CMD ["serve"]
