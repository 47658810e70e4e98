// The page's shared state: who is logged in (never a token: the session is an HttpOnly cookie the
// script cannot read), the current navigation, the player and the uploads in flight.

export const state = {
  session: null, // {pubkey, is_admin, expires_at}
  routeToken: 0, // bumped on every navigation; async work of an old view checks it and stops
  player: null, // {mode, hls?, element}
};
