/* SPDX-License-Identifier: Apache-2.0 */
/* What service.c shares with config.c: the service state and the configuration handlers. */
#ifndef PRT_INTERNAL_H
#define PRT_INTERNAL_H

#include "idem.h"
#include "pg.h"
#include "server.h"

#define PRT_LIST_DEFAULT 50
#define PRT_LIST_MAX     500

/* The state every handler gets as ud; immutable after init. */
typedef struct prt_state {
    co_pg_pool *pool;
    co_idem idem;
    const char *trust_domain;
} prt_state;

/* The program configuration methods of coalition.v1.Partners and the internal
 * Directory.GetProgramSnapshot and Directory.GetMembershipPlan (config.c); ud is a prt_state. */
co_err prt_create_program(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud);
co_err prt_update_program(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud);
co_err prt_get_program(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                       void *ud);
co_err prt_list_programs(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                         void *ud);
co_err prt_set_participation(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                             void *ud);
co_err prt_create_campaign(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                           void *ud);
co_err prt_list_campaigns(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud);
co_err prt_set_exchange_agreement(co_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, void *ud);
co_err prt_list_exchange_agreements(co_call *call, const ProtobufCMessage *msg,
                                    ProtobufCMessage **resp, void *ud);
co_err prt_set_commission_policy(co_call *call, const ProtobufCMessage *msg,
                                 ProtobufCMessage **resp, void *ud);
co_err prt_create_reward(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                         void *ud);
co_err prt_list_rewards(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                        void *ud);
co_err prt_create_membership_plan(co_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, void *ud);
co_err prt_get_program_snapshot(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                void *ud);
co_err prt_get_reward(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                      void *ud);
co_err prt_get_membership_plan(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                               void *ud);

#endif
